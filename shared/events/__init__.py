"""Shoebox event contracts and the event-log / bus / consumer runtime every service shares."""

from shared.events.codec import (
    CATALOGUE,
    Catalogue,
    EventDecodeError,
    decode,
    derived_event_id,
    encode,
    make_event,
    new_event_id,
)
from shared.events.envelope import AnyEvent, Event, Payload

__all__ = [
    "CATALOGUE",
    "AnyEvent",
    "Catalogue",
    "Event",
    "EventDecodeError",
    "Payload",
    "decode",
    "derived_event_id",
    "encode",
    "make_event",
    "new_event_id",
]
