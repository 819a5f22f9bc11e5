"""Messages that reach a service from outside the log: AWS's own events on the bus.

S3 delivers ``Object Created`` at least once and may send two for one multipart upload, with the same
notification id on every event in the emulator: an upload is identified by bucket, key and ETag.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from typing import ClassVar, Literal

import msgspec

from shared.runtime.config import Names


class S3Bucket(msgspec.Struct, frozen=True):
    name: str


class S3Object(msgspec.Struct, frozen=True):
    key: str
    size: int = 0
    etag: str | None = None
    eTag: str | None = None  # the emulator's spelling
    sequencer: str | None = None

    @property
    def tag(self) -> str:
        return (self.etag or self.eTag or self.sequencer or "").strip('"')


class ObjectCreatedDetail(msgspec.Struct, frozen=True):
    bucket: S3Bucket
    object: S3Object
    reason: str | None = None


class ObjectCreated(msgspec.Struct, frozen=True, kw_only=True):
    """An S3 ``Object Created`` event under the uploads prefix, as media_process receives it."""

    source_name: ClassVar[str] = "aws.s3"
    detail_type: ClassVar[str] = "Object Created"

    id: str
    time: dt.datetime | None = None
    detail: ObjectCreatedDetail

    @property
    def bucket(self) -> str:
        return self.detail.bucket.name

    @property
    def key(self) -> str:
        return urllib.parse.unquote_plus(self.detail.object.key)

    @property
    def idempotency_key(self) -> str:
        """One write of one object: its ETag, and S3's sequencer (which tells apart two writes of the same
        bytes; a redelivered announcement keeps it)."""
        o = self.detail.object
        return f"s3:{self.bucket}/{self.key}@{o.tag}" + (f"~{o.sequencer}" if o.sequencer else "")

    @property
    def session_id(self) -> str | None:
        """The session the key claims (``claimed_session``): the one a refusal of the key is recorded in,
        and whose existence the commit checks; None for a key under no session."""
        return claimed_session(self.key)

    @property
    def type_name(self) -> str:
        return "aws.s3.object.created"

    @classmethod
    def handler_name(cls) -> str:
        return "handle_object_created"

    @classmethod
    def pattern(cls, names: Names) -> dict[str, object]:
        return {
            "source": [cls.source_name],
            "detail-type": [cls.detail_type],
            "detail": {
                "bucket": {"name": [names.media_bucket]},
                "object": {"key": [{"prefix": UPLOADS + "/"}]},
            },
        }


class SagaCommandDetail(msgspec.Struct, frozen=True, kw_only=True):
    command: Literal[
        "request_triage",
        "triage_timed_out",
        "request_selection",
        "selection_timed_out",
        "selection_triage_failed",
        "complete_enhancement",
        "enhancement_timed_out",
    ]
    session_id: str
    job_id: str
    attempt: int
    timed_out: bool = False


class SagaCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A step of a saga (Step Functions) asking the api service to record what the saga decided.

    The saga sends it straight to the api's queue (``sqs:sendMessage``), shaped like an EventBridge
    event; the api's handler turns it into events in the session's log (``shoebox.triage.requested``),
    so every request a saga makes is in the log and goes out through the relay like any other event.
    """

    source_name: ClassVar[str] = "shoebox.saga"
    detail_type: ClassVar[str] = "Saga Command"

    id: str  # the execution name and the step: one command per step, whatever the retries
    detail: SagaCommandDetail

    @property
    def idempotency_key(self) -> str:
        return f"saga:{self.id}"

    @property
    def session_id(self) -> str | None:
        return self.detail.session_id

    @property
    def type_name(self) -> str:
        return f"saga.{self.detail.command}"

    @classmethod
    def handler_name(cls) -> str:
        return "handle_saga_command"


#: Messages from outside the log, by (source, detail-type).
INBOUND: dict[tuple[str, str], type[ObjectCreated] | type[SagaCommand]] = {
    (ObjectCreated.source_name, ObjectCreated.detail_type): ObjectCreated,
    (SagaCommand.source_name, SagaCommand.detail_type): SagaCommand,
}


#: Top-level prefixes of the media bucket. Only ``uploads/`` triggers processing.
UPLOADS = "uploads"
THUMBNAILS = "thumbnails"
CONVERTED = "converted"
PREVIEWS = "previews"
ENHANCED = "enhanced"
RESULTS = "results"
ALL_PREFIXES = (UPLOADS, THUMBNAILS, CONVERTED, PREVIEWS, ENHANCED, RESULTS)


#: the prefixes of the files media_process derives from an upload (and of what later services write)
DERIVED_PREFIXES = (THUMBNAILS, CONVERTED, PREVIEWS, ENHANCED, RESULTS)


#: what an upload's name may hold: letters, digits and these, starting with a letter or digit, no ".."
NAME_CHARACTERS = "A-Za-z0-9._ ()+-"
MAX_NAME = 255
_PLAIN_NAME = re.compile(f"^[A-Za-z0-9][{NAME_CHARACTERS}]*$")
#: a session id as the API makes them (a random UUID, lower case)
_SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
#: what a derived file's name adds to the upload's: ``.jpg``, ``.mp4``
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")


class UnsafeKey(ValueError):
    """A key built from parts that could take it out of its prefix (or into another session)."""


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can be an upload's name (the key's last part): the API's rule, which the CLI and
    the upload page follow when they name files."""
    return len(name) <= MAX_NAME and bool(_PLAIN_NAME.match(name)) and ".." not in name


def is_session_id(session_id: str) -> bool:
    """Whether ``session_id`` is shaped like the ids the API gives sessions (it does not say the session
    exists: its ``META`` read model does)."""
    return bool(_SESSION_ID.match(session_id))


def upload_key(session_id: str, name: str) -> str:
    return f"{UPLOADS}/{session_id}/{name}"


def session_of(key: str) -> tuple[str, str] | None:
    """``uploads/<session>/<name>`` -> (session, name); None for any other shape. It says nothing of the
    name: ``upload_of`` is the rule."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != UPLOADS or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def upload_of(key: str) -> tuple[str, str] | None:
    """(session, name) when ``key`` is one the API could have issued, ``uploads/<session id>/<plain
    name>``; None for any other key: nothing but such keys is ever processed or recorded as a file."""
    where = session_of(key)
    if where is None or not is_session_id(where[0]) or not is_plain_name(where[1]):
        return None
    return where


def claimed_session(key: str) -> str | None:
    """The session an object under ``uploads/`` claims to be in (the key's second part, whatever follows
    it: ``uploads/<session>/../x.jpg`` claims ``<session>``); None when the key names none."""
    parts = key.split("/", 2)
    if len(parts) != 3 or parts[0] != UPLOADS or not parts[1]:
        return None
    return parts[1]


def derived_key(prefix: str, session_id: str, name: str, suffix: str) -> str:
    """``<prefix>/<session>/<name><suffix>`` (``thumbnails/<session>/IMG_1.JPG.jpg``): the one place a key
    is built for a file derived from an upload. Raises ``UnsafeKey`` unless the prefix is a derived one, the
    session id is shaped like the API's, the name is a plain upload name and the suffix a plain extension:
    then the key has three parts and cannot leave its prefix or its session's folder."""
    if (
        prefix not in DERIVED_PREFIXES
        or not is_session_id(session_id)
        or not is_plain_name(name)
        or not _SUFFIX.match(suffix)
    ):
        raise UnsafeKey(f"refusing to derive a key from {prefix!r}, {session_id!r}, {name!r}, {suffix!r}")
    return f"{prefix}/{session_id}/{name}{suffix}"
