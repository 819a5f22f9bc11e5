"""Copies of one message handled at once in one process (a copy and its original in one receive, as the
chaos runs' doubled deliveries make them; the emulator announcing a multipart upload twice): the handler
runs once, whatever the log's tracking check costs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.log import InMemoryEventLog, Tracking
from shared.runtime.processor import Processor
from shared.runtime.service import Output, Service
from shared.runtime.topology import Consumer
from tests.support.events import session_created
from tests.support.messages import bus_body

pytestmark = pytest.mark.anyio


class RemoteLog(InMemoryEventLog):
    """The in-memory log whose tracking check yields to the event loop, as DynamoDB's GetItem does."""

    async def is_processed(self, tracking: Tracking) -> bool:
        await anyio.lowlevel.checkpoint()
        return await super().is_processed(tracking)


async def test_copies_arriving_together_are_handled_once_when_the_tracking_check_yields() -> None:
    consumer = Consumer(service="copies", handles=(c.EnhancementFeedbackRequested,))
    calls: list[str] = []

    async def handle_enhancement_feedback_requested(e: c.EnhancementFeedbackRequested) -> Sequence[Output]:
        calls.append(e.data.feedback)
        await anyio.lowlevel.checkpoint()
        return [c.PhotoEnhanceRequestedData(job_id="j", key="k", index=0, feedback=e.data.feedback)]

    service = Service(consumer, {c.EnhancementFeedbackRequested: handle_enhancement_feedback_requested})
    log = RemoteLog()
    sid = str(uuid.uuid4())
    await log.commit([session_created(sid)])  # a consumer's events apply only to a session that exists
    processor = Processor(service, log)
    event = make_event(
        c.EnhancementFeedbackRequestedData(job_id="j", key="k", feedback="warmer"),
        source="shoebox/api",
        session_id=sid,
    )
    committed: list[int] = []

    async def deliver() -> None:
        committed.append(len(await processor.process(bus_body(event))))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(deliver)
    assert calls == ["warmer"], "one handling, however many copies arrive together"
    assert sorted(committed) == [0, 0, 1]
