"""At-least-once delivery, exactly-once effects: duplicates, a worker killed after its transaction,
a relay killed between reading and publishing. Each ends with one event, exact counters, one handling."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from services.media_process.app import build as build_media_process
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import Processor
from shared.runtime.relay import StreamPoller
from shared.runtime.worker import Worker
from tests.support.api import new_session, upload
from tests.support.events import session_created
from tests.support.messages import bus_body, s3_event_body
from tests.support.paths import TESTDATA
from tests.support.stack import Observer, RunningStack
from tests.support.wait import eventually, until

pytestmark = pytest.mark.stack
PHOTO = TESTDATA / "photos" / "cameras" / "Canon_40D.jpg"


def test_every_message_delivered_twice_is_handled_once(embedded_stack: RunningStack) -> None:
    api, stack, portal = embedded_stack.api_url, embedded_stack.stack, embedded_stack.portal
    auth = embedded_stack.auth()
    sid = new_session(api, headers=auth)
    data = PHOTO.read_bytes()
    media, observer = stack.workers["media_process"], stack.workers["observer"]
    media_before, observer_before = media.handled, observer.handled
    key = upload(api, sid, "canon.jpg", data, headers=auth)
    [event] = embedded_stack.observer.wait_for(key)

    # 1. the same bytes PUT again: S3 emits another Object Created for the same key and ETag
    upload(api, sid, "canon.jpg", data, headers=auth)
    # 2. the S3 event delivered again, and 3. media_process's event delivered again to the observer
    names = stack.settings.names
    etag = event.data.file.etag
    portal.call(
        lambda: stack.clients.sqs.send_message(
            QueueUrl=stack.queue_url("media_process"),
            MessageBody=s3_event_body(names.media_bucket, key, len(data), etag),
        )
    )
    portal.call(
        lambda: stack.clients.sqs.send_message(
            QueueUrl=stack.queue_url("observer"), MessageBody=bus_body(event)
        )
    )
    barrier = upload(
        api, sid, "barrier.jpg", (TESTDATA / "photos" / "gps" / "DSCN0021.jpg").read_bytes(), headers=auth
    )
    embedded_stack.observer.wait_for(barrier)
    # the barrier is no proof the duplicates were taken (S3's event may still be on its way): wait until
    # media_process acked its four messages (the upload, its two duplicates, the barrier) and the observer
    # its three (canon's event, its copy, the barrier's event)
    eventually(lambda: media.handled >= media_before + 4, timeout_s=60, what="the two S3 duplicates")
    eventually(lambda: observer.handled >= observer_before + 3, timeout_s=60, what="the event's copy")

    assert embedded_stack.observer.seen[event.id] == 1
    assert len(embedded_stack.observer.for_key(key)) == 1
    log = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    assert [e["type"] for e in log].count("shoebox.media.file.processed.v1") == 2  # canon + barrier
    counters = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["counters"]
    assert counters["processed"] == 2 and counters["duplicate"] == 0


class Killed(BaseException):
    """The process dies: nothing after this line runs."""


@pytest.mark.anyio
async def test_a_worker_killed_between_its_transaction_and_its_ack_changes_nothing_on_redelivery(
    emulator_only: RunningStack,
) -> None:
    settings = emulator_only.settings
    names = settings.names
    sid = str(uuid.uuid4())
    key = f"uploads/{sid}/killed.jpg"
    async with Clients(settings) as clients:
        log = DynamoEventLog(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)
        q = (await clients.sqs.get_queue_url(QueueName=names.queue("media_process")))["QueueUrl"]
        dlq = (await clients.sqs.get_queue_url(QueueName=names.dead_letter_queue("media_process")))[
            "QueueUrl"
        ]
        await clients.s3.put_object(Bucket=names.media_bucket, Key=key, Body=PHOTO.read_bytes())

        processor = Processor(build_media_process(clients), log)
        dying = Worker(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1)
        receipts: list[str] = []

        async def die(receipt: str) -> None:
            receipts.append(receipt)
            raise Killed

        dying._ack = die  # type: ignore[method-assign]
        with pytest.raises(BaseExceptionGroup) as crashed:
            await dying.run()
        assert crashed.group_contains(Killed)
        assert len(await log.read_all(sid)) == 1  # the transaction committed before the "kill"

        # the visibility timeout expires: SQS hands the message to the next worker
        await clients.sqs.change_message_visibility(
            QueueUrl=q, ReceiptHandle=receipts[0], VisibilityTimeout=0
        )
        survivor = Worker(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1)
        async with anyio.create_task_group() as tg:
            await tg.start(survivor.run)
            await until(lambda: survivor.handled >= 1, what="the surviving worker to handle the message")
            survivor.stop()
        assert [type(e).type_name() for e in await log.read_all(sid)] == ["shoebox.media.file.processed.v1"]
        assert (await log.counters(sid)).processed == 1
        left = await clients.sqs.get_queue_attributes(
            QueueUrl=q,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        assert left["Attributes"] == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }


class _StuckEvents:
    """An EventBridge client whose PutEvents never returns: the relay is killed while waiting on it."""

    def __init__(self) -> None:
        self.called = anyio.Event()

    async def put_events(self, **_: Any) -> Any:
        self.called.set()
        await anyio.sleep_forever()


@pytest.mark.anyio
async def test_a_relay_killed_between_read_and_publish_publishes_on_restart(
    emulator_only: RunningStack,
) -> None:
    settings = emulator_only.settings
    names = settings.names
    sid = str(uuid.uuid4())
    async with Clients(settings) as clients:
        log = DynamoEventLog(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)
        q = (await clients.sqs.get_queue_url(QueueName=names.queue("selection")))["QueueUrl"]
        await log.commit([session_created(sid)])
        # an appender commits and dies at once: it never talks to the bus
        event = make_event(
            c.TriageRequestedData(job_id="j1", attempt=1, expected=1, processed=1, rejected=0, duplicate=0),
            source="shoebox/api",
            session_id=sid,
        )
        await log.commit([event])

        stuck = _StuckEvents()
        first = StreamPoller(settings, clients.dynamodb, clients.streams, stuck)  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            with anyio.fail_after(10):
                await stuck.called.wait()  # it has read the record and is publishing...
            tg.cancel_scope.cancel()  # ...when it is killed

        restarted = StreamPoller(settings, clients.dynamodb, clients.streams, clients.events)
        bodies: list[dict[str, Any]] = []
        async with anyio.create_task_group() as tg:
            await tg.start(restarted.run)
            with anyio.fail_after(15):
                while not any(b["detail"]["id"] == event.id for b in bodies):
                    r = await clients.sqs.receive_message(
                        QueueUrl=q, WaitTimeSeconds=1, MaxNumberOfMessages=10
                    )
                    for m in r.get("Messages", []):
                        bodies.append(json.loads(m["Body"]))
                        await clients.sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            restarted.stop()
            tg.cancel_scope.cancel()
        mine = [b for b in bodies if b["detail"]["id"] == event.id]
        assert len(mine) == 1
        assert mine[0]["detail-type"] == "shoebox.triage.requested"
        assert len(await log.read_all(sid)) == 2  # session.created and the request

        # a consumer handed the same event twice (a relay may publish twice) handles it once
        observer = Observer()
        svc = observer.service()
        consumer = msgspec.structs.replace(svc.consumer, handles=(c.TriageRequested,))
        from shared.runtime.service import Service

        async def handle_triage_requested(e: c.TriageRequested) -> list[Any]:
            observer.seen[e.id] += 1
            return []

        processor = Processor(Service(consumer, {c.TriageRequested: handle_triage_requested}), log)
        body = json.dumps(mine[0])
        await processor.process(body)
        await processor.process(body)
        assert observer.seen[event.id] == 1
