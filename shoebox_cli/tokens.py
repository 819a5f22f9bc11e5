"""Bearer tokens for the CLI: ``--token`` when given, else one minted from a local stack's issuer key.

A stack started by ``shoebox up`` keeps its issuer key in its state directory (``.shoebox/auth/issuer.pem``);
whoever can read that file can sign tokens for it, which is what ``shoebox dev-token`` and the commands that
talk to a local ``--api`` do. A deployed API takes a token from its identity provider (``--token``).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

#: the user the CLI acts as on a local stack (the owner of the sessions it creates)
LOCAL_USER = "local"
#: a job's own token outlives any job: uploads are not bounded by the job's timeout
JOB_TOKEN_TTL_S = 12 * 3600
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class NoToken(Exception):
    """No local stack has run in the state directory: there is no key to mint a token with."""


def is_local(api: str) -> bool:
    return urllib.parse.urlsplit(api).hostname in _LOCAL_HOSTS


def mint(state_dir: Path, *, sub: str = LOCAL_USER, ttl_s: float = JOB_TOKEN_TTL_S) -> str:
    """A token signed by the issuer of the stack that ran in ``state_dir``; ``NoToken`` when none has."""
    from services.api.auth import LocalIssuer, NoLocalIssuer

    try:
        issuer = LocalIssuer.load(state_dir)
    except NoLocalIssuer as exc:
        raise NoToken(str(exc)) from None
    return issuer.issue(sub, ttl_s)


def for_api(api: str, token: str | None, state_dir: Path) -> str | None:
    """``token`` if given; for an API on this machine, one minted from ``state_dir`` when a stack ran
    there; else None (the API will answer 401, and the command says to pass ``--token``)."""
    if token:
        return token
    if is_local(api):
        try:
            return mint(state_dir)
        except NoToken:
            return None
    return None
