"""A message that keeps failing ends in the DLQ, and a shoebox.message.failed event says which, where, why."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import anyio
import pytest

from deploy.local.provision import provision
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import SYSTEM_STREAM, Processor
from shared.runtime.service import Output, Service
from shared.runtime.topology import MAX_RECEIVE_COUNT, Consumer, Topology
from shared.runtime.worker import Worker
from tests.support.events import session_created
from tests.support.messages import bus_body
from tests.support.stack import RunningStack

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
        await log.commit([session_created(sid)])
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


async def test_a_message_that_kills_every_worker_is_recorded_as_failed_by_the_dead_letter_sweeper(
    emulator_only: RunningStack,
) -> None:
    """Workers that die with the message (received, never acked) leave no failure behind; the queue's
    redrive moves it to the DLQ after MAX_RECEIVE_COUNT receives, and the sweeper records it: the
    upload is rejected (media_process's on_give_up), so no saga waits for it. Once only."""
    from services.media_process.handlers import on_give_up
    from shared.runtime.dead_letters import DeadLetterSweeper, WorkerLost, give_up_to_dead_letters
    from shared.runtime.inbound import ObjectCreated
    from tests.support.messages import s3_event_body

    settings = emulator_only.settings
    names = settings.names
    consumer = Consumer(service="crashy", handles=(ObjectCreated,), handler_timeout_s=5)

    async def handle_object_created(e: ObjectCreated) -> Sequence[Output]:
        raise AssertionError("never reached: every worker dies first")

    sid = str(uuid.uuid4())
    key = f"uploads/{sid}/bomb.heic"
    async with Clients(settings) as clients:
        urls = await provision(clients, Topology(consumers=(consumer,)))
        q, dlq = urls[names.queue("crashy")], urls[names.dead_letter_queue("crashy")]
        log = DynamoEventLog(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)
        await log.commit([session_created(sid)])  # (an upload under no session is refused: UnknownSession)
        service = Service(consumer, {ObjectCreated: handle_object_created}, on_give_up=on_give_up)
        processor = Processor(service, log)
        await clients.sqs.send_message(QueueUrl=q, MessageBody=s3_event_body("media", key, 123, "e1"))
        # a message the runtime gave up itself is already on record: the sweeper leaves it alone
        await give_up_to_dead_letters(
            processor,
            clients.sqs,
            s3_event_body("media", f"uploads/{sid}/x.jpg", 1, "e2"),
            error=RuntimeError("handler failed 5 times"),
            message_id="m0",
            receive_count=MAX_RECEIVE_COUNT,
            queue=names.queue("crashy"),
            dead_letter_queue_url=dlq,
        )
        on_record = len(await log.read_all(sid))  # its message.failed and rejection

        # MAX_RECEIVE_COUNT workers receive it and die (no delete, no failure recorded)
        for _ in range(MAX_RECEIVE_COUNT):
            with anyio.fail_after(10):
                while True:
                    r = await clients.sqs.receive_message(QueueUrl=q, VisibilityTimeout=0, WaitTimeSeconds=1)
                    if r.get("Messages"):
                        break
        # the next receive finds it gone: the redrive policy moved it
        assert not (await clients.sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1)).get("Messages")
        assert len(await log.read_all(sid)) == on_record  # nothing says what happened to bomb.heic

        sweeper = DeadLetterSweeper(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq)
        with anyio.fail_after(15):
            while sweeper.seen < 2:
                await sweeper.sweep(wait_time_s=1)
        assert sweeper.recorded == 1
        events = await log.read_all(sid)
        assert len(events) == on_record + 2  # the sweeper's two: x.jpg's were not recorded again
        [rejected] = [e for e in events if isinstance(e, c.FileRejected) and e.data.file.key == key]
        assert rejected.data.code == "processing_failed"
        [failed] = [e for e in events[on_record:] if isinstance(e, c.MessageFailed)]
        assert failed.data.service == "crashy" and failed.data.error_type == "WorkerLost"
        assert failed.data.queue == names.queue("crashy") and failed.data.receive_count == MAX_RECEIVE_COUNT
        assert "no worker of crashy finished this message" in failed.data.error

        # the dead letters stay in the DLQ, hidden from the next sweep; and seen again later, the message
        # is on record already (its tracking record): nothing new
        again = DeadLetterSweeper(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq)
        assert await again.sweep() == 0 and again.seen == 0
        assert (
            dict(await clients.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"]))["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"
            ]
            == "2"
        )
        lost = WorkerLost("again")
        body = s3_event_body("media", key, 123, "e1")
        args = {"message_id": "m", "receive_count": 5, "queue": "q", "dead_letter_queue": "d"}
        assert await processor.give_up(body, error=lost, **args) == []  # type: ignore[arg-type]
        assert len(await log.read_all(sid)) == len(events)
