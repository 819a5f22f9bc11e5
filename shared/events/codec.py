"""Encoding, decoding and upcasting of events.

``decode`` is one msgspec call over the tagged union of every published event class, then the upcaster
chain brings an old version to the current one, so handlers only ever see current versions.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, Union, cast

import msgspec

from . import catalogue as c
from . import enhancement as en
from . import selection_edits, video
from .envelope import Event, Payload

E = TypeVar("E", bound=Event[Any])
Upcaster = Callable[[Event[Any]], Event[Any]]


class EventDecodeError(ValueError):
    """The bytes are not a Shoebox event we can read (malformed JSON, unknown type, wrong field types)."""


class Catalogue:
    """The set of event classes a process can read, with the upcasters between their versions."""

    def __init__(self, events: Iterable[type[Event[Any]]]) -> None:
        self.events: tuple[type[Event[Any]], ...] = tuple(events)
        self._by_type = {e.type_name(): e for e in self.events}
        if len(self._by_type) != len(self.events):
            raise ValueError("two event classes share a type tag")
        self.current: dict[str, type[Event[Any]]] = {}
        for e in self.events:
            if e.version() > (self.current[e.family()].version() if e.family() in self.current else 0):
                self.current[e.family()] = e
        self._by_payload: dict[type[Payload], type[Event[Any]]] = {}
        for e in self.events:
            if e.payload_type() in self._by_payload:
                raise ValueError(f"{e.payload_type().__name__} is the payload of two event types")
            self._by_payload[e.payload_type()] = e
        self._upcasters: dict[type[Event[Any]], tuple[type[Event[Any]], Upcaster]] = {}
        union: Any = Union.__getitem__(self.events)  # the tagged union of every event class
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(union)
        self._encoder = msgspec.json.Encoder()

    def upcaster(
        self, old: type[Event[Any]], new: type[E]
    ) -> Callable[[Callable[[Any], E]], Callable[[Any], E]]:
        """Register ``fn(old_event) -> new_event`` (decorator)."""
        if old.family() != new.family() or new.version() != old.version() + 1:
            raise ValueError(f"upcaster must go one version up within a family: {old} -> {new}")

        def register(fn: Callable[[Any], E]) -> Callable[[Any], E]:
            self._upcasters[old] = (new, cast(Upcaster, fn))
            return fn

        return register

    def type_of(self, type_name: str) -> type[Event[Any]] | None:
        return self._by_type.get(type_name)

    def is_current(self, cls: type[Event[Any]]) -> bool:
        return self.current.get(cls.family()) is cls

    def event_class_for(self, payload: Payload) -> type[Event[Any]]:
        try:
            return self._by_payload[type(payload)]
        except KeyError:
            raise TypeError(
                f"{type(payload).__name__} is not the payload of a cataloged event type"
            ) from None

    def decode(self, raw: bytes | str) -> Event[Any]:
        """Decode one event and upcast it to the current version of its family."""
        try:
            event: Event[Any] = self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise EventDecodeError(str(exc)) from exc
        except (RecursionError, UnicodeError) as exc:  # absurdly deep nesting; lone surrogates in a str
            raise EventDecodeError(f"not a readable event: {type(exc).__name__}") from exc
        return self.upcast(event)

    def upcast(self, event: Event[Any]) -> Event[Any]:
        while not self.is_current(type(event)):
            step = self._upcasters.get(type(event))
            if step is None:
                raise EventDecodeError(f"no upcaster from {type(event).type_name()}")
            event = step[1](event)
        return event

    def encode(self, event: Event[Any]) -> bytes:
        """JSON bytes of an event. Refuses NaN and infinities, which JSON cannot carry (msgspec would
        write ``null`` and produce an event no reader accepts)."""
        _check_finite(msgspec.to_builtins(event), "event")
        return self._encoder.encode(event)

    def missing_upcasters(self) -> list[str]:
        return [e.type_name() for e in self.events if not self.is_current(e) and e not in self._upcasters]


def _check_finite(value: Any, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path} is {value}: events carry finite numbers only")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{path}[{i}]")


CATALOGUE = Catalogue(c.ALL_EVENTS + selection_edits.EVENTS + en.EVENTS + video.EVENTS)


@CATALOGUE.upcaster(c.SessionCreatedV1, c.SessionCreatedV2)
def _session_created_v1_to_v2(old: c.SessionCreatedV1) -> c.SessionCreatedV2:
    return c.SessionCreatedV2(
        **_envelope_fields(old, c.SessionCreatedV2),
        data=c.SessionCreatedV2Data(owner=old.data.owner, trip=c.Trip(context=old.data.context)),
    )


@CATALOGUE.upcaster(c.FileRejectedV1, c.FileRejected)
def _file_rejected_v1_to_v2(old: c.FileRejectedV1) -> c.FileRejected:
    """v2 only adds a code: every v1 rejection reads as it was."""
    d = old.data
    return c.FileRejected(
        **_envelope_fields(old, c.FileRejected),
        data=c.FileRejectedData(file=d.file, code=d.code, message=d.message),
    )


@CATALOGUE.upcaster(c.EnhancementCompletedV1, en.EnhancementCompleted)
def _enhancement_completed_v1_to_v2(old: c.EnhancementCompletedV1) -> en.EnhancementCompleted:
    """v1 knew done and partial only, and items that were done or failed."""
    d = old.data
    return en.EnhancementCompleted(
        **_envelope_fields(old, en.EnhancementCompleted),
        data=en.EnhancementCompletedV2Data(
            job_id=d.job_id, status=d.status, total=d.done + d.failed, done=d.done, failed=d.failed
        ),
    )


def _envelope_fields(old: Event[Any], new: type[Event[Any]]) -> dict[str, Any]:
    fields = {f: getattr(old, f) for f in old.__struct_fields__ if f != "data"}
    fields["dataschema"] = new.schema_uri()
    return fields


def decode(raw: bytes | str) -> Event[Any]:
    return CATALOGUE.decode(raw)


def encode(event: Event[Any]) -> bytes:
    return CATALOGUE.encode(event)


def new_event_id() -> str:
    return str(uuid.uuid4())


_NAMESPACE = uuid.UUID("6f1c3b1e-35a7-4c84-9a54-5b0c2b1f7d10")


def derived_event_id(*parts: str) -> str:
    """A deterministic id for an event caused by something else, so a retry writes the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_event(
    payload: Payload,
    *,
    source: str,
    session_id: str,
    subject: str | None = None,
    event_id: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
    time: dt.datetime | None = None,
    catalogue: Catalogue = CATALOGUE,
) -> Event[Any]:
    """Wrap a payload in the envelope of its event class. ``traceparent`` is the W3C trace context the
    event continues (the runtime passes the current span's: ``shared.runtime.telemetry``)."""
    cls = catalogue.event_class_for(payload)
    eid = event_id or new_event_id()
    return cls(
        id=eid,
        source=source,
        subject=subject,
        time=time or now(),
        dataschema=cls.schema_uri(),
        sessionid=session_id,
        correlationid=correlation_id or eid,
        causationid=causation_id,
        traceparent=traceparent,
        data=payload,
    )


@CATALOGUE.upcaster(c.VideoEnhanceFailedV1, video.VideoEnhanceFailed)
def _video_enhance_failed_v1_to_v2(old: c.VideoEnhanceFailedV1) -> video.VideoEnhanceFailed:
    """Every v1 code is a v2 code; v1 measured no duration."""
    d = old.data
    return video.VideoEnhanceFailed(
        **_envelope_fields(old, video.VideoEnhanceFailed),
        data=video.VideoEnhanceFailedV2Data(job_id=d.job_id, key=d.key, code=d.code, message=d.message),
    )
