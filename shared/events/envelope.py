"""The CloudEvents-1.0-shaped envelope every Shoebox event travels in.

An event class is ``Event[Payload]`` with a tag: the CloudEvents ``type`` with its version
(``shoebox.media.file.processed.v1``). The tag makes every event class a member of one msgspec tagged
union, so decoding any event is one ``msgspec.json.decode`` call.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import typing
from typing import Annotated, Any, Generic, TypeVar

import msgspec

D = TypeVar("D", bound="Payload")

SPEC_VERSION = "1.0"
SCHEMA_BASE = "https://shoebox.dev/schemas/events/"
_TAG = re.compile(r"^(?P<family>shoebox(\.[a-z_]+)+)\.v(?P<version>[1-9][0-9]*)$")


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """Base of every event's ``data``. Readers skip fields they do not know."""


class Event(msgspec.Struct, Generic[D], tag_field="type", frozen=True, kw_only=True):
    """One event: the envelope (CloudEvents attributes and Shoebox extensions) around a typed payload."""

    specversion: str = SPEC_VERSION
    id: str
    source: str
    subject: str | None = None
    time: Annotated[dt.datetime, msgspec.Meta(tz=True)]  # always timezone-aware
    datacontenttype: str = "application/json"
    dataschema: str = ""
    # Extensions. ``sessionid`` names the stream the event belongs to; ``sequence`` is its position there
    # (assigned by the log on append, increasing, gaps allowed).
    sessionid: str
    sequence: int = 0
    correlationid: str
    causationid: str | None = None
    traceparent: str | None = None
    data: D

    @classmethod
    def family(cls) -> str:
        """The type without its version: ``shoebox.media.file.processed``."""
        return _parse_tag(cls.type_name())[0]

    @classmethod
    def version(cls) -> int:
        return _parse_tag(cls.type_name())[1]

    @classmethod
    def payload_type(cls) -> type[Payload]:
        return _payload_type(cls)

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag

    @classmethod
    def schema_uri(cls) -> str:
        return f"{SCHEMA_BASE}{cls.type_name()}.json"

    @classmethod
    def handler_name(cls) -> str:
        """The name of the function that handles this event: ``handle_<what happened>``.

        ``shoebox.triage.requested`` -> ``handle_triage_requested``.
        """
        return "handle_" + cls.family().removeprefix("shoebox.").replace(".", "_")


AnyEvent = Event[Any]


@functools.cache
def _parse_tag(tag: str) -> tuple[str, int]:
    m = _TAG.match(tag)
    if m is None:
        raise TypeError(f"event tag {tag!r} must look like 'shoebox.<area>.<what>.v<N>'")
    return m["family"], int(m["version"])


@functools.cache
def _payload_type(cls: type[Event[Any]]) -> type[Payload]:
    for base in getattr(cls, "__orig_bases__", ()):
        args = typing.get_args(base)
        if args and isinstance(args[0], type) and issubclass(args[0], Payload):
            return args[0]
    raise TypeError(f"{cls.__name__} must subclass Event[SomePayload]")
