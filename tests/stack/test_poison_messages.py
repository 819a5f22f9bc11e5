"""Poison messages, end to end on the emulator's queues, through the long-poll worker and the Lambda adapter.

A message no retry can fix (it cannot be read: not JSON, not an EventBridge message, an unknown event type
or version, a payload that fails validation, a type its service does not handle; or it is for a session
that does not exist) goes to the DLQ on its first receive with exactly one ``shoebox.message.failed``. A
handler that fails is retried with backoff up to ``MAX_RECEIVE_COUNT`` receives, then the same. A message
sent at the same time is handled normally in every case.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import msgspec
import pytest

from deploy.local.provision import provision
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime import worker as worker_module
from shared.runtime.aws import Clients
from shared.runtime.lambda_sqs import handle_sqs_batch
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import SYSTEM_STREAM, Processor
from shared.runtime.projections import session_pk
from shared.runtime.service import Output, Service
from shared.runtime.topology import MAX_RECEIVE_COUNT, Consumer, Topology
from shared.runtime.worker import Worker
from tests.support.events import processed, session_created
from tests.support.messages import bus_body, s3_event_body, saga_command_body
from tests.support.stack import RunningStack
from tests.support.wait import until

pytestmark = [pytest.mark.stack, pytest.mark.anyio]


def _edited(body: str, edit: Callable[[dict[str, Any]], None]) -> str:
    message = json.loads(body)
    edit(message)
    return json.dumps(message)


def _retyped(sid: str, type_name: str) -> str:
    def edit(m: dict[str, Any]) -> None:
        m["detail"]["type"] = type_name
        m["detail-type"] = type_name.rsplit(".", 1)[0]

    return _edited(bus_body(processed(sid, "poison.jpg")), edit)


def _bad_size(m: dict[str, Any]) -> None:
    m["detail"]["data"]["file"]["size"] = "big"


def _no_bucket(m: dict[str, Any]) -> None:
    del m["detail"]["bucket"]


def _no_job(m: dict[str, Any]) -> None:
    del m["detail"]["job_id"]


def _completed(sid: str) -> str:
    data = c.TriageCompletedData(job_id="j", attempt=1, keep=1, discard=0, results_key="r", provider="p")
    return bus_body(make_event(data, source="shoebox/selection", session_id=sid))


class Case(msgspec.Struct, frozen=True):
    name: str
    body: Callable[[str, str], str]  # (a session that exists, one that does not) -> the message body
    error_type: str = "PoisonMessage"
    event_type: str = "unknown"
    #: where its message.failed goes: the system stream, or the session's when it can be read and exists
    own_stream: bool = False


CASES = (
    Case("not_json", lambda sid, ghost: "{not json"),
    Case("not_an_envelope", lambda sid, ghost: json.dumps({"Records": [{"eventSource": "aws:s3"}]})),
    Case("unknown_type", lambda sid, ghost: _retyped(sid, "shoebox.nothing.happened.v1")),
    Case("unknown_version", lambda sid, ghost: _retyped(sid, "shoebox.media.file.processed.v9")),
    Case("invalid_payload", lambda sid, ghost: _edited(bus_body(processed(sid, "poison.jpg")), _bad_size)),
    Case(
        "malformed_s3_event",
        lambda sid, ghost: _edited(s3_event_body("b", f"uploads/{sid}/x.jpg", 1, "e"), _no_bucket),
    ),
    Case(
        "malformed_saga_command",
        lambda sid, ghost: _edited(saga_command_body("request_triage", sid, "j"), _no_job),
    ),
    Case(
        "unhandled_type",
        lambda sid, ghost: _completed(sid),
        event_type="shoebox.triage.completed.v1",
        own_stream=True,
    ),
    Case(
        "unknown_session",
        lambda sid, ghost: bus_body(processed(ghost, "poison.jpg")),
        error_type="UnknownSession",
        event_type="shoebox.media.file.processed.v1",
    ),
)


class Bench:
    """A test service on its own queue: it handles ``media.file.processed`` (and fails on ``fail_on``)."""

    def __init__(self, name: str, *, fail_on: str = "", retry_base_s: int = 0) -> None:
        self.consumer = Consumer(
            service=name,
            handles=(c.FileProcessed,),
            handler_timeout_s=5,
            concurrency=4,
            retry_base_s=retry_base_s,
        )
        self.calls: list[str] = []
        self.fail_on = fail_on
        self.sid, self.ghost = str(uuid.uuid4()), str(uuid.uuid4())

    async def handle_media_file_processed(self, e: c.FileProcessed) -> Sequence[Output]:
        self.calls.append(e.data.file.name)
        if e.data.file.name == self.fail_on:
            raise Boom(f"cannot handle {e.data.file.name}")
        return []

    async def start(self, clients: Clients) -> tuple[Processor, str, str]:
        """Provisioned, its session created: the processor, the queue's and the DLQ's URLs."""
        names = clients.settings.names
        urls = await provision(clients, Topology(consumers=(self.consumer,)))
        for rule in self.consumer.rules(names):
            # the messages are sent to the queue directly; a rule would route every file.processed other
            # tests commit to this queue too, when a relay replays the emulator's stream
            targets = await clients.events.list_targets_by_rule(Rule=rule.name, EventBusName=rule.bus)
            ids = [t["Id"] for t in targets["Targets"]]
            await clients.events.remove_targets(Rule=rule.name, EventBusName=rule.bus, Ids=ids)
            await clients.events.delete_rule(Name=rule.name, EventBusName=rule.bus)
        log = DynamoEventLog.of(clients)
        await log.commit([session_created(self.sid)])
        service = Service(self.consumer, {c.FileProcessed: self.handle_media_file_processed})
        processor = Processor(service, log)
        return (
            processor,
            urls[names.queue(self.consumer.service)],
            urls[names.dead_letter_queue(self.consumer.service)],
        )


class Boom(RuntimeError):
    pass


async def _failures(log: DynamoEventLog, message_id: str, *streams: str) -> list[c.MessageFailed]:
    return [
        e
        for s in (SYSTEM_STREAM, *streams)
        for e in await log.read_all(s)
        if isinstance(e, c.MessageFailed) and e.data.message_id == message_id
    ]


async def _drain(clients: Clients, url: str, until: Callable[[list[str]], bool]) -> list[str]:
    bodies: list[str] = []
    with anyio.fail_after(60):
        while not until(bodies):
            r = await clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
            bodies += [m["Body"] for m in r.get("Messages", [])]
    return bodies


async def _empty(clients: Clients, url: str) -> bool:
    r = await clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )
    return set(r["Attributes"].values()) == {"0"}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_poison_message_goes_to_the_dlq_on_its_first_receive_and_its_neighbour_is_handled(
    emulator_only: RunningStack, case: Case
) -> None:
    bench = Bench(f"poison_{case.name}")
    async with Clients(emulator_only.settings) as clients:
        processor, q, dlq = await bench.start(clients)
        log = processor.log
        assert isinstance(log, DynamoEventLog)
        body = case.body(bench.sid, bench.ghost)
        neighbour = bus_body(processed(bench.sid, "neighbour.jpg"))
        sent = await clients.sqs.send_message_batch(
            QueueUrl=q,
            Entries=[{"Id": "poison", "MessageBody": body}, {"Id": "ok", "MessageBody": neighbour}],
        )
        poison_id = next(e["MessageId"] for e in sent["Successful"] if e["Id"] == "poison")
        worker = Worker(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            dead = await _drain(clients, dlq, lambda got: bool(got) and worker.handled >= 1)
            worker.stop()

        assert dead == [body]  # the message as it was sent, once
        assert bench.calls.count("neighbour.jpg") == 1
        # never retried: the handler did not see it, or (for a session that does not exist) saw it once
        assert bench.calls.count("poison.jpg") == (1 if case.error_type == "UnknownSession" else 0)
        [failed] = await _failures(log, poison_id, bench.sid, bench.ghost)
        assert failed.sessionid == (bench.sid if case.own_stream else SYSTEM_STREAM)
        assert failed.data.receive_count == 1
        assert (failed.data.error_type, failed.data.event_type) == (case.error_type, case.event_type)
        names = emulator_only.settings.names
        assert failed.data.queue == names.queue(bench.consumer.service)
        assert failed.data.dead_letter_queue == names.dead_letter_queue(bench.consumer.service)
        assert await _empty(clients, q)
        assert await log.read_all(bench.ghost) == [] and await log.query_views(session_pk(bench.ghost)) == []


async def test_a_handler_that_always_fails_is_retried_with_backoff_then_given_up(
    emulator_only: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = Bench("always_fails", fail_on="poison.jpg", retry_base_s=1)
    delays: list[tuple[int, int]] = []
    real_delay = worker_module.retry_delay_s

    def recorded(receive_count: int, base_s: int, cap_s: int = 900) -> int:
        delays.append((receive_count, d := real_delay(receive_count, base_s, cap_s)))
        return d

    monkeypatch.setattr(worker_module, "retry_delay_s", recorded)
    async with Clients(emulator_only.settings) as clients:
        processor, q, dlq = await bench.start(clients)
        log = processor.log
        assert isinstance(log, DynamoEventLog)
        body = bus_body(processed(bench.sid, "poison.jpg"))
        sent = await clients.sqs.send_message_batch(
            QueueUrl=q,
            Entries=[
                {"Id": "poison", "MessageBody": body},
                {"Id": "ok", "MessageBody": bus_body(processed(bench.sid, "neighbour.jpg"))},
            ],
        )
        poison_id = next(e["MessageId"] for e in sent["Successful"] if e["Id"] == "poison")
        worker = Worker(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            dead = await _drain(clients, dlq, bool)
            worker.stop()

        assert dead == [body]
        assert (
            bench.calls.count("poison.jpg") == MAX_RECEIVE_COUNT and bench.calls.count("neighbour.jpg") == 1
        )
        # each failed receive but the last made the message invisible for longer: 1, 2, 4, 8 s (with jitter)
        assert [n for n, _ in delays] == list(range(1, MAX_RECEIVE_COUNT))
        for n, d in delays:
            assert int(0.8 * 2 ** (n - 1)) <= d <= 1.2 * 2 ** (n - 1)
        [failed] = await _failures(log, poison_id, bench.sid)
        assert failed.sessionid == bench.sid and failed.data.receive_count == MAX_RECEIVE_COUNT
        assert (
            failed.data.error_type == "Boom" and failed.data.event_type == "shoebox.media.file.processed.v1"
        )


def _record(body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:quiet-lambda-poison",
    }


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_lambda_adapter_gives_a_poison_record_up_at_once_and_handles_its_neighbour(
    emulator_only: RunningStack, case: Case
) -> None:
    bench = Bench(f"lambda_poison_{case.name}")
    async with Clients(emulator_only.settings) as clients:
        processor, _, dlq = await bench.start(clients)
        log = processor.log
        assert isinstance(log, DynamoEventLog)
        poison = _record(case.body(bench.sid, bench.ghost))
        neighbour = _record(bus_body(processed(bench.sid, "neighbour.jpg")))
        result = await handle_sqs_batch(
            processor, clients, {"Records": [poison, neighbour]}, dead_letter_queue_url=dlq, concurrency=2
        )
        assert result == {"batchItemFailures": []}  # both done: SQS deletes both from the queue
        assert await _drain(clients, dlq, bool) == [poison["body"]]
        assert bench.calls.count("neighbour.jpg") == 1
        [failed] = await _failures(log, poison["messageId"], bench.sid, bench.ghost)
        assert failed.sessionid == (bench.sid if case.own_stream else SYSTEM_STREAM)
        assert failed.data.receive_count == 1 and failed.data.queue == "quiet-lambda-poison"
        assert (failed.data.error_type, failed.data.event_type) == (case.error_type, case.event_type)
        assert await log.read_all(bench.ghost) == [] and await log.query_views(session_pk(bench.ghost)) == []


def _failing_give_up(bench: Bench, processor: Processor) -> list[str]:
    """The service's ``on_give_up`` raises (a bug in it, or the log unreachable while giving up): the
    returned list grows by one per attempt to give a message up."""
    attempts: list[str] = []

    def on_give_up(event: object, error: BaseException) -> Sequence[Output]:
        attempts.append(type(error).__name__)
        raise RuntimeError("on_give_up is broken")

    processor.service.on_give_up = on_give_up
    return attempts


async def test_a_worker_that_cannot_give_a_message_up_keeps_it_and_handles_its_neighbours(
    emulator_only: RunningStack,
) -> None:
    bench = Bench("give_up_fails")
    async with Clients(emulator_only.settings) as clients:
        processor, q, dlq = await bench.start(clients)
        attempts = _failing_give_up(bench, processor)
        poison = _completed(bench.sid)  # readable, but not this service's: given up at once
        await clients.sqs.send_message_batch(
            QueueUrl=q,
            Entries=[
                {"Id": "poison", "MessageBody": poison},
                {"Id": "ok", "MessageBody": bus_body(processed(bench.sid, "neighbour.jpg"))},
            ],
        )
        worker = Worker(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            # the message comes back and the worker, alive, tries again
            await until(lambda: len(attempts) >= 2 and worker.handled >= 1, timeout_s=30, what="a second try")
            await clients.sqs.send_message(
                QueueUrl=q, MessageBody=bus_body(processed(bench.sid, "later.jpg"))
            )
            await until(lambda: worker.handled >= 2, timeout_s=30, what="a message sent after it")
            worker.stop()
        assert bench.calls.count("neighbour.jpg") == 1 and bench.calls.count("later.jpg") == 1
        assert set(attempts) == {"PoisonMessage"}


async def test_the_lambda_adapter_reports_a_record_it_cannot_give_up_and_handles_its_neighbour(
    emulator_only: RunningStack,
) -> None:
    bench = Bench("lambda_give_up_fails")
    async with Clients(emulator_only.settings) as clients:
        processor, _, dlq = await bench.start(clients)
        attempts = _failing_give_up(bench, processor)
        poison = _record(_completed(bench.sid))
        neighbour = _record(bus_body(processed(bench.sid, "neighbour.jpg")))
        result = await handle_sqs_batch(
            processor, clients, {"Records": [poison, neighbour]}, dead_letter_queue_url=dlq, concurrency=2
        )
        # only the record that could not be given up comes back; the neighbour is done
        assert result == {"batchItemFailures": [{"itemIdentifier": poison["messageId"]}]}
        assert attempts == ["PoisonMessage"] and bench.calls == ["neighbour.jpg"]
        assert await _empty(clients, dlq)


async def test_the_dead_letter_sweeper_records_the_others_when_one_cannot_be_recorded(
    emulator_only: RunningStack,
) -> None:
    from shared.runtime.dead_letters import DeadLetterSweeper

    bench = Bench("sweep_one_fails")
    async with Clients(emulator_only.settings) as clients:
        processor, q, dlq = await bench.start(clients)

        def on_give_up(event: object, error: BaseException) -> Sequence[Output]:
            if isinstance(event, c.TriageCompleted):
                raise RuntimeError("on_give_up is broken for this one")
            return []

        processor.service.on_give_up = on_give_up
        # two messages the redrive moved without an outcome: the broken one first
        await clients.sqs.send_message(QueueUrl=dlq, MessageBody=_completed(bench.sid))
        sent = await clients.sqs.send_message(
            QueueUrl=dlq, MessageBody=bus_body(processed(bench.sid, "x.jpg"))
        )
        sweeper = DeadLetterSweeper(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq)
        with anyio.fail_after(15):
            while sweeper.seen < 2:
                await sweeper.sweep(wait_time_s=1)
        assert sweeper.recorded == 1
        log = processor.log
        assert isinstance(log, DynamoEventLog)
        [failed] = await _failures(log, sent["MessageId"], bench.sid)
        assert failed.data.error_type == "WorkerLost"
