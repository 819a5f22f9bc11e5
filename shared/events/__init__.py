"""Shoebox's published event contracts: the envelope, every event type and version, the codec with its
upcasters, and :func:`decode_message` for what a consumer's queue receives.

Other teams install these modules as the ``shoebox-events`` wheel (imported as ``shoebox_events``; it needs
msgspec alone): every import inside the package is relative, so the same files work under either name.
"""

from .codec import (
    CATALOGUE,
    Catalogue,
    EventDecodeError,
    decode,
    derived_event_id,
    encode,
    make_event,
    new_event_id,
)
from .documents import documents_dir, event_json_schema
from .envelope import AnyEvent, Event, Payload
from .messages import SOURCE_PREFIX, BusMessage, NotOurEvent, decode_message, read_bus_message
from .version import CONTRACTS_VERSION, __version__

__all__ = [
    "CATALOGUE",
    "CONTRACTS_VERSION",
    "SOURCE_PREFIX",
    "AnyEvent",
    "BusMessage",
    "Catalogue",
    "Event",
    "EventDecodeError",
    "NotOurEvent",
    "Payload",
    "__version__",
    "decode",
    "decode_message",
    "derived_event_id",
    "documents_dir",
    "encode",
    "event_json_schema",
    "make_event",
    "new_event_id",
    "read_bus_message",
]
