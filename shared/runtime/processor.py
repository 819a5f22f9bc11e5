"""The consumer runtime's core: one message end to end.

A handler is ``async def handle_<event>(event) -> Sequence[Payload | Emit]``: a typed event in, typed
payloads out. It never sees SQS or Lambda. ``Processor`` does the rest for one message: decode, skip
what was already handled, call the handler under its timeout, and commit the resulting events together
with the message's tracking record in ONE transaction. The long-poll ``Worker`` (``worker.py``) and the
Lambda SQS entrypoint (``lambda_sqs.py``) only move messages between SQS and ``Processor``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from typing import Any

import anyio
import msgspec
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.events import catalogue as c
from shared.events.codec import CATALOGUE, Catalogue, EventDecodeError, derived_event_id, make_event
from shared.events.envelope import Event
from shared.events.messages import decode_message, read_bus_message
from shared.runtime import telemetry
from shared.runtime.faults import NONE, Faults, handling
from shared.runtime.inbound import INBOUND, ObjectCreated, SagaCommand
from shared.runtime.log import (
    AlreadyProcessed,
    ClaimTaken,
    DuplicateEvent,
    EventLog,
    Tracking,
    UnknownSession,
)
from shared.runtime.service import Emit, Handler, Output, PoisonMessage, Service
from shared.runtime.views import ViewExpectation

log = logging.getLogger("shoebox.runtime")

#: how often a handler decides again when its commit finds a read-model claim taken
CLAIM_ATTEMPTS = 3
#: the stream of events that belong to no upload session (a malformed message, say)
SYSTEM_STREAM = "system"


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

    def __init__(
        self, service: Service, log: EventLog, *, catalogue: Catalogue = CATALOGUE, faults: Faults = NONE
    ) -> None:
        self.service = service
        #: test-only fault injection (``shared/runtime/faults.py``)
        self.faults = faults
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
        # the published contracts' reader (``shared.events.messages``): what other teams' consumers use
        try:
            msg = read_bus_message(body)
        except EventDecodeError as exc:
            raise PoisonMessage(f"not an EventBridge message: {exc}") from exc
        if msg is None:  # our queues are fed by rules: an envelope on its own was not sent by the bus
            raise PoisonMessage("not an EventBridge message: a bare event envelope")
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
            event = decode_message(msg, catalogue=self.catalogue)
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

    def tracking(self, d: Decoded) -> Tracking | None:
        """The message's tracking record; None only when a test switched tracking off."""
        return Tracking(self.service.name, d.tracking_key) if self.faults.tracking else None

    @staticmethod
    def checked_session(d: Decoded) -> str | None:
        """The session a message's commit must find (``EventLog.commit``): an event for a session that does
        not exist is never applied (``UnknownSession``: given up at once). An S3 upload's is the session its
        key claims (``inbound.claimed_session``): nothing is recorded in a session that does not exist."""
        return d.session_id

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
                message_key=d.tracking_key,
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
            while (busy := self._inflight.get(d.tracking_key)) is not None:
                await busy.wait()
            # registered before the next await: a copy that arrives (or is woken) with this one must wait
            # for it too (two copies in one receive both ran the handler, found by the chaos runs)
            done = self._inflight[d.tracking_key] = anyio.Event()
            try:
                # (an S3 upload under no session, ``session_id`` None, goes to its handler too: media_process
                # refuses the key, and its give-up is recorded on the system stream)
                if tracking is not None and await self.log.is_processed(tracking):
                    log.info("already handled, skipping")
                    return []
                return await self._handle(d, handler, tracking, span)
            finally:
                del self._inflight[d.tracking_key]
                done.set()

    async def _handle(
        self, d: Decoded, handler: Handler, tracking: Tracking | None, span: Span
    ) -> list[Event[Any]]:
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            started = time.perf_counter()
            try:
                with anyio.fail_after(self.service.consumer.handler_timeout_s), handling(self.faults):
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
            expect = [x for out in outputs if isinstance(out, Emit) for x in out.expect]
            try:
                committed = await self._commit(events, tracking, expect, self.checked_session(d))
            except ClaimTaken:
                # Another message claimed what this one decided on (the same bytes uploaded twice at
                # once), or changed an item it read: decide again, seeing it.
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

    async def _commit(
        self,
        events: list[Event[Any]],
        tracking: Tracking | None,
        expect: Sequence[ViewExpectation] = (),
        session: str | None = None,
    ) -> list[Event[Any]]:
        try:
            return await self.log.commit(events, tracking=tracking, expect=expect, session=session)
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
            given = self.service.on_give_up(d.event, error)
            outputs.extend(await given if inspect.isawaitable(given) else given)
        failed = c.MessageFailedData(
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
        tracking = Tracking(self.service.name, key)
        events = self._events(base, [*outputs, failed], salt="give-up")
        try:
            return await self._commit(events, tracking, session=self.checked_session(base))
        except UnknownSession:
            # the message's session does not exist: its failure goes to the system stream, and nothing
            # on_give_up says about that session is applied
            orphan = msgspec.structs.replace(base, session_id=None)
            if not isinstance(error, UnknownSession):  # the system stream's record names the session
                why = f"session {base.session_id} does not exist; {failed.error}"
                failed = msgspec.structs.replace(failed, error=why[:2000])
            return await self._commit(self._events(orphan, [failed], salt="give-up"), tracking)
