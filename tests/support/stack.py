"""The embedded stack as the tests hold it, and an observer consumer that stands for another team's."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from deploy.local.processes import log_path
from deploy.local.stack import Stack, StackConfig, running_stack
from deploy.local.supervisor import Child
from shared.events import catalogue as c
from shared.events.envelope import Event
from shared.runtime.service import Output, Service
from shared.runtime.topology import Consumer
from tests.support.wait import eventually


class Observer:
    """Another team's consumer: it subscribes to media events and remembers what it was given."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.events: list[Event[Any]] = []
        #: notified on every event recorded, so a test awaits one instead of polling for it
        self._recorded = threading.Condition()

    def service(self) -> Service:
        consumer = Consumer(
            service="observer",
            handles=(c.FileProcessed, c.FileRejected, c.FileDuplicate),
            handler_timeout_s=10,
            retry_base_s=0,
        )

        async def record(event: Event[Any]) -> Sequence[Output]:
            with self._recorded:
                self.seen[event.id] += 1
                self.events.append(event)
                self._recorded.notify_all()
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
        with self._recorded:
            return self._for_key(key)

    def _for_key(self, key: str) -> list[Event[Any]]:
        return [e for e in self.events if getattr(e.data, "file", None) and e.data.file.key == key]

    def wait_for(self, key: str, count: int = 1, timeout_s: float = 30.0) -> list[Event[Any]]:
        """The events given for the upload ``key``, once there are at least ``count``: wakes on each event
        the observer is given; fails after ``timeout_s``."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: len(self._for_key(key)) >= count, timeout=timeout_s):
                raise AssertionError(f"the observer was not given {count} event(s) for {key} in {timeout_s}s")
            return self._for_key(key)


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

    def queue_depth(self, service: str) -> int:
        """Messages in the service's queue, visible or held by a worker (moto counts them exactly)."""
        stack = self.stack

        async def depth() -> int:
            r = await stack.clients.sqs.get_queue_attributes(
                QueueUrl=stack.queue_url(service),
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )
            return sum(int(v) for v in r["Attributes"].values())

        return self.portal.call(depth)

    def wait_drained(self, service: str, timeout_s: float = 60.0) -> None:
        """Wait until the service's worker has acked every message in its queue."""
        eventually(
            lambda: self.queue_depth(service) == 0 or None,
            timeout_s=timeout_s,
            what=f"{service}'s queue to drain",
        )

    def process(self, name: str) -> Child:
        """One of the stack's supervised processes (``worker:media_process``, ``relay``, ``api``)."""
        assert self.stack.supervisor is not None, "this stack runs everything in one process"
        return self.stack.supervisor.children[name]

    def log_records(self, name: str) -> list[dict[str, Any]]:
        """What a supervised process logged (its JSON log file under the state folder), every run of it."""
        path = log_path(Path(self.stack.config.state_dir), name)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@contextlib.contextmanager
def open_stack(config: StackConfig, observer: Observer | None = None) -> Iterator[RunningStack]:
    """A started stack (with ``observer``'s consumer in this process when given), held by a portal."""
    extra = (observer.service(),) if observer is not None else ()
    with start_blocking_portal("asyncio") as portal:
        cm = portal.wrap_async_context_manager(running_stack(config, extra_services=extra))
        stack = cm.__enter__()
        try:
            yield RunningStack(stack, portal, observer)
        finally:
            cm.__exit__(None, None, None)
