"""Fixtures of the in-process API tests: one issuer for the run, one app per module (``tests.support.app``
holds the app on its in-memory collaborators)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.api.auth import LocalIssuer
from tests.support.app import Api, running


@pytest.fixture(scope="session")
def issuer() -> LocalIssuer:
    """One issuer for every in-process app (making an RSA key takes a while)."""
    return LocalIssuer.generate()


@pytest.fixture(scope="module")
def api(issuer: LocalIssuer) -> Iterator[Api]:
    """An app on in-memory collaborators, its lifespan running, for the tests of one module (making an app
    takes a while): each test works in sessions of its own, and looks at what changed, not at totals."""
    with running(issuer) as api:
        yield api
