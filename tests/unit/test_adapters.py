"""The thin adapters: the Lambda SQS entrypoint (partial batch failures), the relay's Lambda path, and
trace context carried from one event to the next."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.events import catalogue as c
from shared.events.codec import encode, make_event
from shared.runtime.aws import Clients
from shared.runtime.lambda_sqs import handle_sqs_batch
from shared.runtime.log import InMemoryEventLog
from shared.runtime.processor import Processor
from shared.runtime.relay import PublishError, outgoing, publish_records
from shared.runtime.service import Output, Service
from shared.runtime.topology import Consumer
from tests.support.events import session_created
from tests.support.messages import bus_body
from tests.support.stack import RunningStack

pytestmark = pytest.mark.anyio


def _service(fail_on: str) -> Service:
    consumer = Consumer(service="lambda_test", handles=(c.EnhancementFeedbackRequested,), retry_base_s=0)

    async def handle_enhancement_feedback_requested(e: c.EnhancementFeedbackRequested) -> Sequence[Output]:
        if e.data.feedback == fail_on:
            raise RuntimeError("provider unavailable")
        return [
            c.PhotoEnhanceRequestedData(
                job_id=e.data.job_id, key=e.data.key, index=0, feedback=e.data.feedback
            )
        ]

    return Service(consumer, {c.EnhancementFeedbackRequested: handle_enhancement_feedback_requested})


def _record(event: Any, receive_count: int) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "body": bus_body(event),
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:quiet-lambda-test",
    }


@pytest.mark.stack
async def test_the_lambda_entrypoint_reports_only_failed_records_and_gives_up_on_the_last_receive(
    emulator_only: RunningStack,
) -> None:
    sid = str(uuid.uuid4())
    log = InMemoryEventLog()
    await log.commit([session_created(sid)])
    processor = Processor(_service(fail_on="boom"), log)

    def feedback(text: str) -> Any:
        return make_event(
            c.EnhancementFeedbackRequestedData(job_id="j", key=f"k-{text}", feedback=text),
            source="shoebox/api",
            session_id=sid,
        )

    ok, failing, last_try = (
        _record(feedback("brighter"), 1),
        _record(feedback("boom"), 2),
        _record(feedback("boom"), 5),
    )
    async with Clients(emulator_only.settings) as clients:
        dlq = (await clients.sqs.create_queue(QueueName="lambda-test-dlq"))["QueueUrl"]
        result = await handle_sqs_batch(
            processor, clients, {"Records": [ok, failing, last_try]}, dead_letter_queue_url=dlq, concurrency=2
        )
        assert result == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
        moved = await clients.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)
        assert [json.loads(m["Body"])["detail"]["data"]["key"] for m in moved["Messages"]] == ["k-boom"]
    types = [type(e).type_name() for e in await log.read_all(sid)]
    assert sorted(types) == [
        "shoebox.message.failed.v1",
        "shoebox.photo.enhance.requested.v1",
        "shoebox.session.created.v2",
    ]


def _stream_record(seq: str, image: dict[str, Any], name: str = "INSERT") -> dict[str, Any]:
    return {"eventName": name, "dynamodb": {"SequenceNumber": seq, "NewImage": image}}


def _event_image(event: Any) -> dict[str, Any]:
    from shared.events.codec import encode

    return {
        "kind": {"S": "event"},
        "id": {"S": event.id},
        "source": {"S": event.source},
        "family": {"S": type(event).family()},
        "envelope": {"S": encode(event).decode()},
    }


def test_the_relay_publishes_only_new_event_items() -> None:
    e = make_event(
        c.FileDeletedData(key="uploads/s/a.jpg", reason="confirmed"), source="shoebox/api", session_id="s"
    )
    records = [
        _stream_record("1", {"kind": {"S": "head"}, "next": {"N": "1"}}),
        _stream_record("2", _event_image(e)),
        _stream_record("3", {"kind": {"S": "guard"}}),
        _stream_record("4", {"kind": {"S": "tracking"}}),
        _stream_record("5", _event_image(e), name="MODIFY"),
        _stream_record("6", _event_image(e)),  # the emulator's duplicate record: published again, harmless
    ]
    out = outgoing(records, "bus")
    assert [o.sequence_number for o in out] == ["2", "6"]
    assert out[0].entry["DetailType"] == "shoebox.media.file.deleted"
    assert json.loads(out[0].entry["Detail"])["id"] == e.id


class _PartlyFailingBus:
    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    async def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        return {
            "FailedEntryCount": 1,
            "Entries": [{"EventId": "x"}] + [{"ErrorCode": "InternalFailure"}] * (len(Entries) - 1),
        }


async def test_a_relay_batch_that_keeps_failing_names_the_first_record_to_retry() -> None:
    events = [
        make_event(
            c.FileDeletedData(key=f"uploads/s/{i}.jpg", reason="cleanup"),
            source="shoebox/api",
            session_id="s",
        )
        for i in range(3)
    ]
    records = [_stream_record(str(10 + i), _event_image(e)) for i, e in enumerate(events)]
    bus = _PartlyFailingBus()
    with pytest.raises(PublishError) as failed:
        await publish_records(bus, "bus", records, attempts=2)  # type: ignore[arg-type]
    # 10 went out on the first call, 11 on the retry: the stream must be retried from 12
    assert failed.value.first_failed_sequence == "12"
    assert [len(c) for c in bus.calls] == [3, 2]  # the retry sends only the failed entries


async def test_a_handler_continues_the_trace_of_the_event_it_handles() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    log = InMemoryEventLog()
    processor = Processor(_service(fail_on="never"), log)
    sid = str(uuid.uuid4())
    await log.commit([session_created(sid)])
    with trace.use_span(tracer.start_span("POST /v1/feedback"), end_on_exit=True) as api_span:
        from shared.runtime.telemetry import current_traceparent

        request = make_event(
            c.EnhancementFeedbackRequestedData(job_id="j", key="k", feedback="warmer"),
            source="shoebox/api",
            session_id=sid,
            traceparent=current_traceparent(),
        )
        assert request.traceparent is not None
    trace_id = f"{api_span.get_span_context().trace_id:032x}"
    original = trace.get_tracer_provider
    trace.get_tracer_provider = lambda: provider  # type: ignore[assignment]
    try:
        [out] = await processor.process(bus_body(request))
    finally:
        trace.get_tracer_provider = original  # type: ignore[assignment]
    assert out.traceparent is not None and out.traceparent.split("-")[1] == trace_id
    assert out.causationid == request.id and out.correlationid == request.correlationid


async def test_a_v1_event_from_yesterdays_producer_is_handled_by_todays_v2_handler() -> None:
    consumer = Consumer(service="v2_reader", handles=(c.SessionCreatedV2,))
    seen: list[c.SessionCreatedV2] = []

    async def handle_session_created(e: c.SessionCreatedV2) -> Sequence[Output]:
        seen.append(e)
        return []

    log = InMemoryEventLog()
    processor = Processor(Service(consumer, {c.SessionCreatedV2: handle_session_created}), log)
    sid = str(uuid.uuid4())
    await log.commit([session_created(sid)])  # the session the event is about exists
    old = make_event(
        c.SessionCreatedV1Data(owner="u", context="Porto, 3 days"), source="shoebox/api", session_id=sid
    )
    body = json.dumps(
        {
            "version": "0",
            "id": "x",
            "detail-type": "shoebox.session.created",
            "source": old.source,
            "detail": json.loads(encode(old)),
        }
    )
    await processor.process(body)
    assert [type(e) for e in seen] == [c.SessionCreatedV2]
    assert seen[0].data.trip.context == "Porto, 3 days" and seen[0].id == old.id


async def test_two_copies_of_one_message_at_once_are_handled_once_in_a_process() -> None:
    """The second copy waits for the first and finds it handled (the emulator announces a completed
    multipart upload twice at once): the work is done once, not twice for a refused commit."""
    import anyio

    consumer = Consumer(service="twice", handles=(c.EnhancementFeedbackRequested,))
    calls: list[str] = []
    release = anyio.Event()

    async def handle_enhancement_feedback_requested(e: c.EnhancementFeedbackRequested) -> Sequence[Output]:
        calls.append(e.data.feedback)
        await release.wait()
        return [c.PhotoEnhanceRequestedData(job_id="j", key="k", index=0, feedback=e.data.feedback)]

    service = Service(consumer, {c.EnhancementFeedbackRequested: handle_enhancement_feedback_requested})
    log = InMemoryEventLog()
    processor = Processor(service, log)
    sid = str(uuid.uuid4())
    await log.commit([session_created(sid)])
    event = make_event(
        c.EnhancementFeedbackRequestedData(job_id="j", key="k", feedback="warmer"),
        source="shoebox/api",
        session_id=sid,
    )
    results: list[int] = []

    async def deliver() -> None:
        results.append(len(await processor.process(bus_body(event))))

    async with anyio.create_task_group() as tg:
        tg.start_soon(deliver)
        tg.start_soon(deliver)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert calls == ["warmer"]
    assert sorted(results) == [0, 1]
