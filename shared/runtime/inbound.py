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
        where = session_of(self.key)
        return where[0] if where else None

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
    command: Literal["request_triage", "triage_timed_out"]
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


#: what an upload's name may hold: letters, digits and these, starting with a letter or digit, no ".."
NAME_CHARACTERS = "A-Za-z0-9._ ()+-"
MAX_NAME = 255
_PLAIN_NAME = re.compile(f"^[A-Za-z0-9][{NAME_CHARACTERS}]*$")


def is_plain_name(name: str) -> bool:
    """Whether ``name`` can be an upload's name (the key's last part): the API's rule, which the CLI and
    the upload page follow when they name files."""
    return len(name) <= MAX_NAME and bool(_PLAIN_NAME.match(name)) and ".." not in name


def upload_key(session_id: str, name: str) -> str:
    return f"{UPLOADS}/{session_id}/{name}"


def session_of(key: str) -> tuple[str, str] | None:
    """``uploads/<session>/<name>`` -> (session, name); None for any other shape."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != UPLOADS or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
