"""The consumer runtime: plain async handlers, called by two thin adapters.

A handler is ``async def handle_<event>(event) -> Sequence[Payload | Emit]``: a typed event in, typed
payloads out. It never sees SQS or Lambda. ``Processor`` does the rest for one message: decode, skip
what was already handled, call the handler under its timeout, and commit the resulting events together
with the message's tracking record in ONE transaction. The long-poll ``Worker`` (here) and the Lambda SQS
entrypoint (``lambda_sqs.py``) only move messages between SQS and ``Processor``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.events import catalogue as c
from shared.events.codec import CATALOGUE, Catalogue, EventDecodeError, derived_event_id, make_event
from shared.events.envelope import Event, Payload
from shared.runtime import telemetry
from shared.runtime.inbound import INBOUND, ObjectCreated, SagaCommand
from shared.runtime.log import AlreadyProcessed, ClaimTaken, DuplicateEvent, EventLog, Tracking
from shared.runtime.topology import MAX_RECEIVE_COUNT, Consumer, Handled

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = logging.getLogger("shoebox.runtime")

#: how often a handler decides again when its commit finds a read-model claim taken
CLAIM_ATTEMPTS = 3
#: the stream of events that belong to no upload session (a malformed message, say)
SYSTEM_STREAM = "system"


class Emit(msgspec.Struct, frozen=True):
    """A handler output with more than a payload: its subject, or another session's stream."""

    payload: Payload
    subject: str | None = None


Output = Payload | Emit
Handler = Callable[[Any], Awaitable[Sequence[Output]]]
GiveUp = Callable[[Any, BaseException], Sequence[Output]]


class PoisonMessage(Exception):
    """A message that can never be handled (malformed, unknown type): no retry will help."""


class Service:
    """One service's handlers, checked against its topology declaration."""

    def __init__(
        self, consumer: Consumer, handlers: Mapping[Handled, Handler], *, on_give_up: GiveUp | None = None
    ) -> None:
        missing = [h.handler_name() for h in consumer.handles if h not in handlers]
        extra = [h for h in handlers if h not in consumer.handles]
        if missing or extra:
            raise ValueError(
                f"{consumer.service}: handlers do not match the topology "
                f"(missing {missing}, undeclared {extra})"
            )
        for h, fn in handlers.items():
            name = getattr(getattr(fn, "func", fn), "__name__", "")
            if name != h.handler_name():
                raise ValueError(
                    f"{consumer.service}: the handler for {h.__name__} must be named "
                    f"{h.handler_name()}, not {name}"
                )
        self.consumer = consumer
        self.handlers = dict(handlers)
        self.on_give_up = on_give_up

    @property
    def name(self) -> str:
        return self.consumer.service


class _BusMessage(msgspec.Struct, frozen=True):
    """What EventBridge puts in the SQS body."""

    source: str
    detail: msgspec.Raw
    detail_type: str = msgspec.field(name="detail-type")
    id: str = ""


class Decoded(msgspec.Struct, frozen=True):
    event: Event[Any] | ObjectCreated | SagaCommand | None  # None: the message could not be read
    tracking_key: str
    session_id: str | None
    event_id: str | None
    event_type: str
    correlation_id: str
    traceparent: str | None


class Processor:
    """Handles one message end to end. Raises when the message should be retried."""

    def __init__(self, service: Service, log: EventLog, *, catalogue: Catalogue = CATALOGUE) -> None:
        self.service = service
        self.log = log
        self.catalogue = catalogue
        self.source = f"shoebox/{service.name}"
        m = telemetry.meter()
        self._handled = m.create_counter("shoebox.messages.handled", description="messages handled")
        self._failed = m.create_counter("shoebox.messages.failed", description="handler failures")
        self._latency = m.create_histogram("shoebox.handler.duration", unit="s")
        #: tracking keys being handled in this process: a second copy of a message waits for the first
        self._inflight: dict[str, anyio.Event] = {}

    def decode(self, body: str | bytes) -> Decoded:
        try:
            msg = msgspec.json.decode(body, type=_BusMessage)
        except msgspec.DecodeError as exc:
            raise PoisonMessage(f"not an EventBridge message: {exc}") from exc
        inbound = INBOUND.get((msg.source, msg.detail_type))
        if inbound is not None:
            try:
                obj = msgspec.json.decode(body, type=inbound)
            except msgspec.DecodeError as exc:
                raise PoisonMessage(f"malformed {msg.detail_type!r} message: {exc}") from exc
            return Decoded(
                event=obj,
                tracking_key=obj.idempotency_key,
                session_id=obj.session_id,
                event_id=None,
                event_type=obj.type_name,
                correlation_id=obj.idempotency_key,
                traceparent=None,
            )
        try:
            event = self.catalogue.decode(msg.detail)
        except EventDecodeError as exc:
            raise PoisonMessage(f"malformed event: {exc}") from exc
        return Decoded(
            event=event,
            tracking_key=f"{event.source}#{event.id}",
            session_id=event.sessionid,
            event_id=event.id,
            event_type=type(event).type_name(),
            correlation_id=event.correlationid,
            traceparent=event.traceparent,
        )

    def tracking(self, d: Decoded) -> Tracking:
        return Tracking(self.service.name, d.tracking_key)

    async def process(self, body: str | bytes) -> list[Event[Any]]:
        """Handle one message. Returns the events committed (empty for a duplicate)."""
        d = self.decode(body)
        handler = self.service.handlers.get(type(d.event)) if d.event is not None else None
        if handler is None:
            raise PoisonMessage(f"{self.service.name} does not handle {d.event_type}")
        with (
            telemetry.continue_trace(d.traceparent),
            telemetry.log_fields(
                service=self.service.name,
                session_id=d.session_id,
                event_id=d.event_id,
                event_type=d.event_type,
            ),
            telemetry.tracer().start_as_current_span(
                f"handle {d.event_type}",
                kind=SpanKind.CONSUMER,
                attributes={
                    "shoebox.service": self.service.name,
                    "shoebox.session": d.session_id or "",
                    "messaging.message.id": d.event_id or d.tracking_key,
                },
            ) as span,
        ):
            tracking = self.tracking(d)
            # Two copies of one message at once in this process (S3 announces a completed multipart upload
            # twice in the emulator; SQS may deliver twice): the second waits for the first and finds it
            # handled, instead of doing the work again for a commit that would be refused.
            while (busy := self._inflight.get(tracking.key)) is not None:
                await busy.wait()
            if d.session_id is None:
                log.warning("no upload session in this message, ignoring it")
                return []
            if await self.log.is_processed(tracking):
                log.info("already handled, skipping")
                return []
            done = self._inflight[tracking.key] = anyio.Event()
            try:
                return await self._handle(d, handler, tracking, span)
            finally:
                del self._inflight[tracking.key]
                done.set()

    async def _handle(self, d: Decoded, handler: Handler, tracking: Tracking, span: Span) -> list[Event[Any]]:
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            started = time.perf_counter()
            try:
                with anyio.fail_after(self.service.consumer.handler_timeout_s):
                    outputs = await handler(d.event)
            except BaseException as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                self._failed.add(1, {"service": self.service.name, "type": d.event_type})
                raise
            finally:
                self._latency.record(
                    time.perf_counter() - started, {"service": self.service.name, "type": d.event_type}
                )
            events = self._events(d, outputs, salt="out")
            try:
                committed = await self._commit(events, tracking)
            except ClaimTaken:
                # Another message claimed what this one decided on (the same bytes uploaded twice at
                # once): decide again, seeing the claim.
                if attempt == CLAIM_ATTEMPTS:
                    raise
                log.info("a claim was taken concurrently; handling again")
                continue
            self._handled.add(1, {"service": self.service.name, "type": d.event_type})
            log.info("handled", extra={"fields": {"emitted": [type(e).type_name() for e in committed]}})
            return committed
        raise AssertionError("unreachable")

    def _events(self, d: Decoded, outputs: Sequence[Output], *, salt: str) -> list[Event[Any]]:
        traceparent = telemetry.current_traceparent()
        events = []
        for i, out in enumerate(outputs):
            emit = out if isinstance(out, Emit) else Emit(out)
            events.append(
                make_event(
                    emit.payload,
                    source=self.source,
                    session_id=d.session_id or SYSTEM_STREAM,
                    subject=emit.subject,
                    event_id=derived_event_id(self.service.name, d.tracking_key, salt, str(i)),
                    correlation_id=d.correlation_id,
                    causation_id=d.event_id,
                    traceparent=traceparent,
                    catalogue=self.catalogue,
                )
            )
        return events

    async def _commit(self, events: list[Event[Any]], tracking: Tracking) -> list[Event[Any]]:
        try:
            return await self.log.commit(events, tracking=tracking)
        except (AlreadyProcessed, DuplicateEvent):
            log.info("a concurrent delivery already committed this message")
            return []

    async def give_up(
        self,
        body: str | bytes,
        *,
        error: BaseException,
        message_id: str,
        receive_count: int,
        queue: str,
        dead_letter_queue: str,
    ) -> list[Event[Any]]:
        """Record that a message is going to the DLQ: ``shoebox.message.failed`` plus whatever the service
        says a failed message means (media_process: the file is rejected, so no saga waits for it)."""
        try:
            d: Decoded | None = self.decode(body)
        except PoisonMessage:
            d = None
        key = d.tracking_key if d else f"sqs:{queue}#{message_id}"
        base = d or Decoded(
            event=None,
            tracking_key=key,
            session_id=None,
            event_id=None,
            event_type="unknown",
            correlation_id=key,
            traceparent=None,
        )
        outputs: list[Output] = []
        if d is not None and d.event is not None and d.session_id and self.service.on_give_up is not None:
            outputs.extend(self.service.on_give_up(d.event, error))
        outputs.append(
            c.MessageFailedData(
                service=self.service.name,
                queue=queue,
                dead_letter_queue=dead_letter_queue,
                message_id=message_id,
                receive_count=receive_count,
                event_id=base.event_id,
                event_type=base.event_type,
                error_type=type(error).__name__,
                error=str(error)[:2000] or type(error).__name__,
            )
        )
        events = self._events(base, outputs, salt="give-up")
        return await self._commit(events, Tracking(self.service.name, key))


#: a message attribute on the messages the runtime itself moves to a DLQ: their failure is on record
GIVEN_UP_ATTRIBUTE = "shoebox-given-up"
#: how long a swept dead letter stays hidden before the sweeper looks at it again (SQS allows 12 hours
#: from the receive in all, and the sweep itself takes a little of that)
DEAD_LETTER_HIDE_S = 12 * 3600 - 300


def queue_name(url: str) -> str:
    """An SQS queue's name from its URL."""
    return url.rsplit("/", 1)[-1]


def gives_up(error: Exception, receive_count: int) -> bool:
    """Whether a failed message is given up now (rather than redelivered): a message no retry can fix,
    or its last receive before the redrive policy would move it."""
    return isinstance(error, PoisonMessage) or receive_count >= MAX_RECEIVE_COUNT


async def give_up_to_dead_letters(
    processor: Processor,
    sqs: SQSClient,
    body: str,
    *,
    error: BaseException,
    message_id: str,
    receive_count: int,
    queue: str,
    dead_letter_queue_url: str,
) -> None:
    """Record the failure (``Processor.give_up``) and move the message to the DLQ ourselves rather than
    waiting for the redrive's next receive (same place, sooner), marked so the DLQ sweeper does not record
    it a second time. The caller then deletes it from its queue."""
    await processor.give_up(
        body,
        error=error,
        message_id=message_id,
        receive_count=receive_count,
        queue=queue,
        dead_letter_queue=queue_name(dead_letter_queue_url),
    )
    await sqs.send_message(
        QueueUrl=dead_letter_queue_url,
        MessageBody=body,
        MessageAttributes={GIVEN_UP_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}},
    )


class WorkerLost(Exception):
    """No worker finished the message: each one that received it stopped (crashed, was killed, ran out of
    memory) before it could record an outcome, and the queue's redrive moved it to the DLQ."""


class DeadLetterSweeper:
    """Records the messages the queue's redrive moved to the DLQ, which no worker lived to give up on.

    A handler that fails is given up by the runtime on its last receive (``Processor.give_up``); a message
    that kills its worker every time reaches the DLQ by the redrive policy instead, silently. The sweeper
    reads the DLQ and gives those up the same way (``shoebox.message.failed`` plus the service's
    ``on_give_up``: media_process rejects the file, so no saga waits for it). The tracking record makes it
    idempotent: a message already given up or handled produces nothing. Messages stay in the DLQ for an
    operator; a swept one is hidden for ``DEAD_LETTER_HIDE_S``.
    """

    def __init__(
        self,
        processor: Processor,
        sqs: SQSClient,
        *,
        queue_url: str,
        dead_letter_queue_url: str,
        wait_time_s: int = 20,
    ) -> None:
        self.processor = processor
        self.sqs = sqs
        self.queue = queue_name(queue_url)
        self.dlq_url = dead_letter_queue_url
        self.dlq = queue_name(dead_letter_queue_url)
        self.wait_time_s = wait_time_s
        #: dead letters looked at, and failures recorded, since this sweeper started
        self.seen = 0
        self.recorded = 0
        self._stopping = anyio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            task_status.started()

            async def loop() -> None:
                while True:
                    try:
                        await self.sweep(wait_time_s=self.wait_time_s)
                    except Exception:  # the emulator restarting, a network blip: back off, never die
                        log.exception("sweeping %s failed", self.dlq_url)
                        await anyio.sleep(5)

            tg.start_soon(loop)
            await self._stopping.wait()
            tg.cancel_scope.cancel()

    async def sweep(self, *, wait_time_s: int = 0) -> int:
        """One receive from the DLQ (up to 10 messages); returns how many failures it recorded."""
        r = await self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_time_s,
            MessageAttributeNames=[GIVEN_UP_ATTRIBUTE],
            VisibilityTimeout=60,
        )
        recorded = 0
        for m in r.get("Messages", []):
            self.seen += 1
            if GIVEN_UP_ATTRIBUTE not in m.get("MessageAttributes", {}):
                events = await self.processor.give_up(
                    m.get("Body", ""),
                    error=WorkerLost(
                        f"no worker of {self.processor.service.name} finished this message in "
                        f"{MAX_RECEIVE_COUNT} receives (each stopped before recording an outcome: a crash, "
                        "a kill or running out of memory); the queue moved it to its dead-letter queue"
                    ),
                    message_id=m.get("MessageId", ""),
                    receive_count=MAX_RECEIVE_COUNT,
                    queue=self.queue,
                    dead_letter_queue=self.dlq,
                )
                if events:
                    recorded += 1
                    log.error(
                        "a message reached %s without an outcome: recorded as failed (%s)",
                        self.dlq,
                        ", ".join(type(e).type_name() for e in events),
                    )
            await self.sqs.change_message_visibility(
                QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=DEAD_LETTER_HIDE_S
            )
        self.recorded += recorded
        return recorded


def retry_delay_s(receive_count: int, base_s: int, cap_s: int = 900) -> int:
    """Redelivery delay after the ``receive_count``-th failure: exponential with jitter (SQS visibility)."""
    if base_s <= 0:
        return 0
    delay = base_s * 2 ** max(receive_count - 1, 0)
    return int(min(cap_s, delay * random.uniform(0.8, 1.2)))


class Worker:
    """The long-poll adapter: receive from the service's queue, run ``Processor``, ack or retry.

    At most ``concurrency`` messages are in flight; a message's visibility is extended while its handler
    runs; ``stop()`` stops receiving and lets in-flight work finish (SIGTERM in ``deploy/local``).
    """

    def __init__(
        self,
        processor: Processor,
        sqs: SQSClient,
        *,
        queue_url: str,
        dead_letter_queue_url: str,
        wait_time_s: int = 20,
        stop_grace_s: float = 30.0,
    ) -> None:
        self.processor = processor
        self.sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dead_letter_queue_url
        self.consumer = processor.service.consumer
        self.wait_time_s = wait_time_s
        self.stop_grace_s = stop_grace_s
        self._stopping = anyio.Event()
        self._free = self.consumer.concurrency
        self._slot_freed = anyio.Event()
        self.handled = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as inflight:
            task_status.started()
            async with anyio.create_task_group() as loop:
                loop.start_soon(self._receive_loop, inflight, loop.cancel_scope)
                await self._stopping.wait()
                loop.cancel_scope.cancel()
            with anyio.move_on_after(self.stop_grace_s) as grace:
                while self._free < self.consumer.concurrency:
                    await self._wait_slot()
            if grace.cancelled_caught:
                log.warning("stopping with messages in flight; they will be redelivered")
                inflight.cancel_scope.cancel()

    async def _wait_slot(self) -> None:
        self._slot_freed = anyio.Event()
        await self._slot_freed.wait()

    async def _receive_loop(self, inflight: anyio.abc.TaskGroup, scope: anyio.CancelScope) -> None:
        while not self._stopping.is_set():
            while self._free == 0:
                await self._wait_slot()
            try:
                r = await self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(self._free, 10),
                    WaitTimeSeconds=self.wait_time_s,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:  # the emulator restarting, a network blip: back off, never die
                log.exception("receive failed")
                await anyio.sleep(1)
                continue
            for m in r.get("Messages", []):
                self._free -= 1
                inflight.start_soon(self._handle, m)
            await anyio.lowlevel.checkpoint()  # let the handlers start before the next long poll

    async def _handle(self, m: MessageTypeDef) -> None:
        try:
            await self.handle_message(m)
        finally:
            self._free += 1
            self._slot_freed.set()

    async def handle_message(self, m: MessageTypeDef) -> None:
        receipt = m["ReceiptHandle"]
        body = m.get("Body", "")
        count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._keep_invisible, receipt)
            try:
                await self.processor.process(body)
            except Exception as exc:
                error = exc
            tg.cancel_scope.cancel()  # stop extending the visibility
        if error is not None:
            await self._failed(m, body, receipt, count, error)
            return
        await self._ack(receipt)
        self.handled += 1

    async def _failed(self, m: MessageTypeDef, body: str, receipt: str, count: int, exc: Exception) -> None:
        if gives_up(exc, count):
            poison = isinstance(exc, PoisonMessage)
            log.error("giving up on message after %d receive(s): %s", count, exc, exc_info=not poison)
            await give_up_to_dead_letters(
                self.processor,
                self.sqs,
                body,
                error=exc,
                message_id=m.get("MessageId", ""),
                receive_count=count,
                queue=queue_name(self.queue_url),
                dead_letter_queue_url=self.dlq_url,
            )
            await self._ack(receipt)
            return
        delay = retry_delay_s(count, self.consumer.retry_base_s)
        log.warning("handler failed (receive %d), retrying in %ds: %r", count, delay, exc)
        try:
            await self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay
            )
        except Exception:
            log.exception("could not set the retry delay")

    async def _keep_invisible(self, receipt: str) -> None:
        vt = self.consumer.visibility_timeout_s
        while True:
            await anyio.sleep(max(vt / 3, 1))
            try:
                await self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=vt
                )
            except Exception:
                log.exception("could not extend visibility")

    async def _ack(self, receipt: str) -> None:
        with anyio.CancelScope(shield=True):
            await self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
