"""Reading one of our events from what a consumer receives.

Our events reach a queue as the EventBridge event a rule delivers (``{"detail-type": <family>, "source":
<producer>, "detail": <the whole event>, ...}``: the outbox relay puts each event on the bus with the event as
``detail``), or, where someone forwards the event itself, as the CloudEvents envelope alone.
:func:`decode_message` takes either and returns the typed Struct, upcast to the current version of its
family. The runtime's consumers (``shared/runtime/processor.py``) read with the same function.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .codec import CATALOGUE, Catalogue, EventDecodeError
from .envelope import Event

#: the ``source`` of every event we publish starts with this (``shoebox/<service>``: the relay publishes
#: each event with its own ``source`` attribute)
SOURCE_PREFIX = "shoebox/"
#: the type tag of every event we publish starts with this
TYPE_PREFIX = "shoebox."


class NotOurEvent(EventDecodeError):
    """Well-formed JSON, but not one of our events: another source's EventBridge event, or other JSON."""


class BusMessage(msgspec.Struct, frozen=True):
    """The EventBridge event a rule delivers to its SQS target: the fields a reader needs."""

    source: str
    detail: msgspec.Raw
    detail_type: str = msgspec.field(name="detail-type")
    id: str = ""


class _Shape(msgspec.Struct, frozen=True):
    """Enough of any JSON object to tell an EventBridge event from a bare envelope."""

    detail_type: str | None = msgspec.field(name="detail-type", default=None)
    source: str | None = None
    detail: msgspec.Raw = msgspec.Raw()  # empty: absent (msgspec has no optional Raw)
    type: str | None = None
    specversion: str | None = None
    id: str | None = None


_SHAPE = msgspec.json.Decoder(_Shape)


def read_bus_message(body: bytes | str) -> BusMessage | None:
    """The EventBridge event in ``body``, or None when ``body`` is a bare envelope.

    Raises :class:`EventDecodeError` for what is not a JSON object, :class:`NotOurEvent` for an object that
    is neither an EventBridge event nor one of our envelopes.
    """
    try:
        shape = _SHAPE.decode(body)
    except msgspec.ValidationError as exc:  # JSON, but not an object with string attributes
        raise NotOurEvent(f"not an EventBridge event or a Shoebox event: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"not an EventBridge event or a Shoebox event: {exc}") from exc
    except (RecursionError, UnicodeError) as exc:
        raise EventDecodeError(f"not a readable message: {type(exc).__name__}") from exc
    if shape.detail_type is not None and len(shape.detail) and shape.source is not None:
        return BusMessage(
            source=shape.source, detail=shape.detail, detail_type=shape.detail_type, id=shape.id or ""
        )
    if shape.type is not None and shape.specversion is not None:
        if not shape.type.startswith(TYPE_PREFIX):
            raise NotOurEvent(f"a CloudEvent of type {shape.type!r} is not a Shoebox event")
        return None
    raise NotOurEvent(
        "neither an EventBridge event (detail-type, source, detail) nor a Shoebox event envelope "
        "(type, specversion, ...)"
    )


def decode_message(body: bytes | str | BusMessage, *, catalogue: Catalogue = CATALOGUE) -> Event[Any]:
    """The event in an SQS message body (or an EventBridge event, or the bare envelope), as its typed
    Struct upcast to the current version of its family.

    Raises :class:`NotOurEvent` for a message that is not ours (an S3 notification, another team's event)
    and :class:`EventDecodeError` (its base) for one of ours that cannot be read (an unknown type or
    version, a malformed payload).
    """
    if isinstance(body, BusMessage):
        message = body
    else:
        found = read_bus_message(body)
        if found is None:  # the envelope alone
            return catalogue.decode(body)
        message = found
    try:
        event = catalogue.decode(message.detail)
    except EventDecodeError as exc:
        if message.detail_type.startswith(TYPE_PREFIX):
            raise
        raise NotOurEvent(
            f"an EventBridge event from {message.source!r} ({message.detail_type!r}) is not a Shoebox event"
        ) from exc
    if message.detail_type != event.family():
        raise EventDecodeError(
            f"detail-type {message.detail_type!r} does not match the event's type {event.type_name()!r}"
        )
    return event
