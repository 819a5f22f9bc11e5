"""Fixtures shared by the whole suite: the embedded stack, started once per session on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deploy.local.emulator import free_port
from deploy.local.stack import StackConfig
from shared.runtime.config import Settings
from tests.support.stack import Observer, RunningStack, open_stack


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def suite_settings() -> Settings:
    """The configuration the stacks below run with, read once as every entrypoint reads it: from the
    environment, with text logs unless it says otherwise (set there, so that the processes the tests
    start, which inherit the environment, log text too)."""
    os.environ.setdefault("SHOEBOX_LOG_FORMAT", "text")
    return Settings.from_env()


@pytest.fixture(scope="session")
def embedded_stack(
    tmp_path_factory: pytest.TempPathFactory, suite_settings: Settings
) -> Iterator[RunningStack]:
    """The whole product on the emulator: every worker, the relay, the API, plus an observer consumer."""
    config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        prefix="test",
        state_dir=str(tmp_path_factory.mktemp("stack")),
        base=suite_settings,
    )
    with open_stack(config, Observer()) as running:
        yield running


@pytest.fixture(scope="session")
def emulator_only(
    tmp_path_factory: pytest.TempPathFactory, suite_settings: Settings
) -> Iterator[RunningStack]:
    """The emulator provisioned from the topology, with no worker, relay or API running: tests drive
    the parts themselves (and kill them where they need to)."""
    config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        prefix="quiet",
        state_dir=str(tmp_path_factory.mktemp("quiet")),
        services=(),
        run_api=False,
        run_relay=False,
        base=suite_settings,
    )
    with open_stack(config) as running:
        yield running
