"""Fixtures shared by the whole suite: the embedded stack, started once per session on free ports."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from deploy.local.emulator import free_port
from deploy.local.stack import Stack, StackConfig, running_stack
from shared.events import catalogue as c
from shared.events.envelope import Event
from shared.runtime.runtime import Output, Service
from shared.runtime.topology import Consumer

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


class Observer:
    """Another team's consumer: it subscribes to media events and remembers what it was given."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.events: list[Event[Any]] = []
        self._lock = threading.Lock()

    def service(self) -> Service:
        consumer = Consumer(
            service="observer",
            handles=(c.FileProcessed, c.FileRejected, c.FileDuplicate),
            handler_timeout_s=10,
            retry_base_s=0,
        )

        async def record(event: Event[Any]) -> Sequence[Output]:
            with self._lock:
                self.seen[event.id] += 1
                self.events.append(event)
            return []

        async def handle_media_file_processed(event: c.FileProcessed) -> Sequence[Output]:
            return await record(event)

        async def handle_media_file_rejected(event: c.FileRejected) -> Sequence[Output]:
            return await record(event)

        async def handle_media_file_duplicate(event: c.FileDuplicate) -> Sequence[Output]:
            return await record(event)

        return Service(
            consumer,
            {
                c.FileProcessed: handle_media_file_processed,
                c.FileRejected: handle_media_file_rejected,
                c.FileDuplicate: handle_media_file_duplicate,
            },
        )

    def for_key(self, key: str) -> list[Event[Any]]:
        with self._lock:
            return [e for e in self.events if getattr(e.data, "file", None) and e.data.file.key == key]


class RunningStack:
    def __init__(self, stack: Stack, portal: BlockingPortal, observer: Observer | None = None) -> None:
        self.stack = stack
        self.portal = portal
        self._observer = observer
        self.settings = stack.settings
        self.api_url = stack.api_url
        self.issuer = stack.issuer

    @property
    def observer(self) -> Observer:
        """The observer consumer: only ``embedded_stack`` runs one."""
        assert self._observer is not None, "this stack runs no observer (emulator_only)"
        return self._observer

    def token(self, sub: str = "alice", ttl_s: float = 3600) -> str:
        """A bearer token the stack's API accepts, for the user ``sub``."""
        return self.issuer.issue(sub, ttl_s)

    def auth(self, sub: str = "alice") -> dict[str, str]:
        """The ``Authorization`` header of the user ``sub`` (every test user owns only their sessions)."""
        return {"Authorization": f"Bearer {self.token(sub)}"}


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole product on the emulator: every worker, the relay, the API, plus an observer consumer."""
    config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        prefix="test",
        state_dir=str(tmp_path_factory.mktemp("stack")),
    )
    observer = Observer()
    os.environ.setdefault("SHOEBOX_LOG_FORMAT", "text")
    with start_blocking_portal("asyncio") as portal:
        cm = portal.wrap_async_context_manager(running_stack(config, extra_services=(observer.service(),)))
        stack = cm.__enter__()
        try:
            yield RunningStack(stack, portal, observer)
        finally:
            cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def emulator_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
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
    )
    with start_blocking_portal("asyncio") as portal:
        cm = portal.wrap_async_context_manager(running_stack(config))
        stack = cm.__enter__()
        try:
            yield RunningStack(stack, portal)
        finally:
            cm.__exit__(None, None, None)
