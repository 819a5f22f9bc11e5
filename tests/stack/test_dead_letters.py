"""A message that keeps failing ends in the DLQ, and a shoebox.message.failed event says which, where, why."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import anyio
import pytest

from deploy.local.provision import provision
from shared.events import catalogue as c
from shared.events.aws import Clients
from shared.events.codec import make_event
from shared.events.log import DynamoEventLog
from shared.events.runtime import SYSTEM_STREAM, Output, Processor, Service, Worker
from shared.events.topology import MAX_RECEIVE_COUNT, Consumer, Topology
from tests.conftest import RunningStack
from tests.stack.test_reliability import bus_body

pytestmark = [pytest.mark.stack, pytest.mark.anyio]


class Boom(RuntimeError):
    pass


async def test_a_message_failing_every_receive_lands_in_the_dlq_with_a_failed_event(
    emulator_only: RunningStack,
) -> None:
    settings = emulator_only.settings
    names = settings.names
    consumer = Consumer(
        service="flaky", handles=(c.EnhancementFeedbackRequested,), handler_timeout_s=5, retry_base_s=0
    )
    calls: list[int] = []

    async def handle_enhancement_feedback_requested(e: c.EnhancementFeedbackRequested) -> Sequence[Output]:
        calls.append(1)
        raise Boom(f"cannot apply {e.data.feedback!r}")

    sid = str(uuid.uuid4())
    async with Clients(settings) as clients:
        urls = await provision(clients, Topology(consumers=(consumer,)))
        q, dlq = urls[names.queue("flaky")], urls[names.dead_letter_queue("flaky")]
        log = DynamoEventLog(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)
        service = Service(consumer, {c.EnhancementFeedbackRequested: handle_enhancement_feedback_requested})
        worker = Worker(
            Processor(service, log), clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1
        )
        event = make_event(
            c.EnhancementFeedbackRequestedData(job_id="j", key="k", feedback="make it pop"),
            source="shoebox/api",
            session_id=sid,
        )
        await clients.sqs.send_message(QueueUrl=q, MessageBody=bus_body(event))
        await clients.sqs.send_message(QueueUrl=q, MessageBody="{not json")
        dead: list[str] = []
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            with anyio.fail_after(30):
                while len(dead) < 2:
                    r = await clients.sqs.receive_message(
                        QueueUrl=dlq, WaitTimeSeconds=1, MaxNumberOfMessages=10
                    )
                    dead += [m["Body"] for m in r.get("Messages", [])]
            worker.stop()
        assert len(calls) == MAX_RECEIVE_COUNT  # tried on every receive, then given up
        assert json.loads(dead[0] if dead[0].startswith('{"') else dead[1])["detail"]["id"] == event.id
        assert "{not json" in dead

        [failed] = [e for e in await log.read_all(sid) if isinstance(e, c.MessageFailed)]
        assert failed.data.service == "flaky" and failed.data.queue == names.queue("flaky")
        assert failed.data.dead_letter_queue == names.dead_letter_queue("flaky")
        assert (
            failed.data.event_id == event.id
            and failed.data.event_type == "shoebox.enhancement.feedback.requested.v1"
        )
        assert failed.data.receive_count == MAX_RECEIVE_COUNT
        assert failed.data.error_type == "Boom" and "make it pop" in failed.data.error
        assert failed.causationid == event.id

        poison = [
            e
            for e in await log.read_all(SYSTEM_STREAM)
            if isinstance(e, c.MessageFailed) and e.data.service == "flaky"
        ]
        assert len(poison) == 1 and poison[0].data.error_type == "PoisonMessage"
        assert poison[0].data.receive_count == 1  # no retry can fix a malformed message
