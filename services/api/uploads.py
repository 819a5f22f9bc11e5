"""Uploads: the rules every upload follows, and S3 multipart uploads for large files (videos).

A single presigned PUT (``POST /v1/sessions/{id}/uploads``, in ``services.api.app``) suits photos and
small videos; a large file goes up in parts straight to S3:

1. ``POST /v1/sessions/{id}/multipart`` ``{name, content_type, size, part_size?}`` creates the upload and
   answers 201 with its ``upload_id``, the ``key`` and one presigned ``PUT`` URL per part
   (``part_size`` bytes each, the last one the rest; the URLs live ``PART_URL_TTL_S``).
2. The client PUTs each part's bytes to its URL (in parallel if it likes) and keeps each answer's ``ETag``
   header (the bucket's CORS rule exposes it).
3. ``POST /v1/sessions/{id}/multipart/{upload_id}/complete`` ``{key, parts: [{part_number, etag}]}``
   assembles the object (200 ``{key}``); S3 then announces it like any upload and media_process decides it
   once (S3 may announce a completed multipart upload twice: media_process keys an upload by bucket, key
   and ETag).
4. Or ``DELETE /v1/sessions/{id}/multipart/{upload_id}?key=...`` gives up: S3 drops the parts (200
   ``{status: "aborted"}``). A DELETE with the key in the query, rather than a POST with a body: it is the
   upload's removal, and repeating it does no harm (the second answers 404: the upload is gone). Uploads
   nobody completes or aborts are aborted by the bucket's lifecycle rule after a day.

Every route checks that the caller owns the session (404 otherwise, as everywhere) and that the key is an
upload of this session (``uploads/<session>/<name>``). Each upload id is tied to the session and the key it
was created for: creating the upload commits ``shoebox.upload.multipart.started`` to the session's log, whose
read model (``MULTIPART#<upload id>``) complete and abort read; an upload id the session did not start, or
with another key, answers 404 (as S3 itself answers NoSuchUpload for another key; the API does not depend on
it). S3's own refusals of a completion (a wrong ETag, a missing part, a part too small) answer 400 with S3's
reason; an upload id S3 does not know answers 404.

This module imports nothing from ``services.api.app`` (which imports it for ``validate_upload``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import re
from typing import Annotated

import msgspec
from litestar import delete, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody, Parameter

from services.api.access import CallerDep, api_event, event_log, object_store, owned_meta
from shared.events import catalogue as c
from shared.runtime import media_types
from shared.runtime.config import Settings
from shared.runtime.inbound import MAX_NAME, is_plain_name, session_of, upload_key
from shared.runtime.projections import multipart_key
from shared.runtime.read_models import MultipartView
from shared.runtime.storage import MIN_PART_BYTES, PartsRefused, UploadedPart, UploadNotFound

log = logging.getLogger("shoebox.api.uploads")

MiB = 1024 * 1024
#: S3's bounds on a part (the last part may be smaller: ``MIN_PART_BYTES`` is the store's) and on the
#: number of parts
MAX_PART_BYTES = 100 * MiB
DEFAULT_PART_BYTES = 10 * MiB
MAX_PARTS = 10_000
PART_URL_TTL_S = 3600
#: S3 upload ids are URL-safe; anything else is not one of ours
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9._~=+-]{1,1024}$")


def validate_upload(name: str, content_type: str, size: int, settings: Settings) -> str:
    """The rules of every upload, single or multipart: a plain file name, a media type Shoebox reads
    (``shared.runtime.media_types``: exactly one of its tokens) and a size within the type's limit (the
    settings', which media_process applies too). Returns the name to store (stripped); raises 400 or 413."""
    name = name.strip()
    if not is_plain_name(name):
        raise ClientException(
            status_code=400,
            detail=f"the file name must be a plain name of at most {MAX_NAME} characters: letters, digits, "
            "'.', '_', '-', '+', ' ', '(', ')', starting with a letter or digit, without '..'",
        )
    kind = media_types.kind_of(content_type)  # exact tokens: never a prefix, never a header's tail
    if kind is None:
        raise ClientException(
            status_code=400,
            detail=f"{content_type!r} is not a photo or video type Shoebox reads; the content_type must be "
            f"one of: {media_types.described()}",
        )
    limit = settings.media.max_video_bytes if kind == "video" else settings.media.max_photo_bytes
    if size > limit:
        raise ClientException(status_code=413, detail=f"{name} is {size} bytes; the limit is {limit}")
    return name


def part_count(size: int, part_size: int) -> int:
    """How many parts ``size`` bytes take in ``part_size`` pieces; 400 when S3 would not take them."""
    if not MIN_PART_BYTES <= part_size <= MAX_PART_BYTES:
        raise ClientException(
            status_code=400,
            detail=f"part_size must be between {MIN_PART_BYTES} bytes (5 MiB) and {MAX_PART_BYTES} bytes "
            f"(100 MiB); {part_size} is not",
        )
    count = max(1, math.ceil(size / part_size))
    if count > MAX_PARTS:
        raise ClientException(
            status_code=400,
            detail=f"{size} bytes in parts of {part_size} would take {count} parts; S3 takes at most "
            f"{MAX_PARTS}: use a part_size of at least {math.ceil(size / MAX_PARTS)} bytes",
        )
    return count


class MultipartRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    content_type: Annotated[str, msgspec.Meta(max_length=100)]
    size: Annotated[int, msgspec.Meta(ge=1)]
    #: bytes per part (the last part is the rest): 5 MiB to 100 MiB, 10 MiB when not given
    part_size: int = DEFAULT_PART_BYTES


class PartUrl(msgspec.Struct, frozen=True):
    part_number: int
    url: str


class MultipartTicket(msgspec.Struct, frozen=True):
    upload_id: str
    key: str
    part_size: int
    #: PUT each part's bytes to its URL; keep the answer's ETag header for ``complete``
    parts: list[PartUrl]
    expires_in_s: int


class CompletedPart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    part_number: Annotated[int, msgspec.Meta(ge=1, le=MAX_PARTS)]
    etag: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CompleteMultipart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: Annotated[str, msgspec.Meta(max_length=400)]
    parts: Annotated[list[CompletedPart], msgspec.Meta(min_length=1, max_length=MAX_PARTS)]


class Completed(msgspec.Struct, frozen=True):
    key: str


class Aborted(msgspec.Struct, frozen=True):
    status: str = "aborted"


def _session_upload(session_id: str, key: str) -> str:
    """``key`` when it is an upload of this session (``uploads/<session>/<a valid name>``), else 400."""
    where = session_of(key)
    if where is None or where[0] != session_id or not is_plain_name(where[1]):
        raise ClientException(
            status_code=400,
            detail=f"the key must be an upload of this session: {upload_key(session_id, '')}<name>",
        )
    return key


def _check_upload_id(upload_id: str) -> None:
    if not _UPLOAD_ID.match(upload_id):
        raise NotFoundException(detail=f"no multipart upload {upload_id!r}")


async def _started_here(state: State, session_id: str, upload_id: str, key: str) -> None:
    """404 unless this session started the upload ``upload_id`` for ``key`` (its ``MULTIPART#`` item): an
    id another session started, or one for another key, is no upload of this session's."""
    started = await event_log(state).get_view(multipart_key(session_id, upload_id), type=MultipartView)
    if started is None or started.key != key:
        raise NotFoundException(detail=f"no multipart upload {upload_id!r} for {key}")


@post("/v1/sessions/{session_id:str}/multipart", status_code=201)
async def create_multipart(
    session_id: FromPath[str], data: JSONBody[MultipartRequest], state: State, caller: CallerDep
) -> MultipartTicket:
    """Start a multipart upload (a large video): one presigned PUT URL per part, valid for an hour."""
    await owned_meta(state, session_id, caller)
    name = validate_upload(data.name, data.content_type, data.size, state.settings)
    count = part_count(data.size, data.part_size)
    key = upload_key(session_id, name)
    store = object_store(state)
    upload_id = await store.create_multipart(key, data.content_type)
    try:
        # the upload id is this session's, for this key (complete and abort act on nothing else)
        started = c.MultipartStartedData(upload_id=upload_id, key=key, name=name, size=data.size)
        await event_log(state).commit([api_event(started, session_id)])
        parts = [
            PartUrl(
                part_number=n,
                # each part's own length is signed: the last one's is what remains
                url=await store.presign_part(
                    key,
                    upload_id,
                    n,
                    PART_URL_TTL_S,
                    size=min(data.part_size, data.size - (n - 1) * data.part_size),
                ),
            )
            for n in range(1, count + 1)
        ]
    except Exception:
        log.exception("could not record or presign the upload of %s; aborting it", key)
        with contextlib.suppress(Exception):  # else the bucket's lifecycle rule aborts it after a day
            await store.abort_multipart(key, upload_id)
        raise
    return MultipartTicket(
        upload_id=upload_id, key=key, part_size=data.part_size, parts=parts, expires_in_s=PART_URL_TTL_S
    )


@post("/v1/sessions/{session_id:str}/multipart/{upload_id:str}/complete", status_code=200)
async def complete_multipart(
    session_id: FromPath[str],
    upload_id: FromPath[str],
    data: JSONBody[CompleteMultipart],
    state: State,
    caller: CallerDep,
) -> Completed:
    """Assemble the uploaded parts into the file: every part, with the ETag its PUT answered."""
    await owned_meta(state, session_id, caller)
    _check_upload_id(upload_id)
    key = _session_upload(session_id, data.key)
    await _started_here(state, session_id, upload_id, key)
    parts = sorted(data.parts, key=lambda p: p.part_number)
    for before, after in itertools.pairwise(parts):
        if before.part_number == after.part_number:
            raise ClientException(status_code=400, detail=f"part {after.part_number} is listed twice")
    try:
        await object_store(state).complete_multipart(
            key, upload_id, [UploadedPart(p.part_number, p.etag) for p in parts]
        )
    except UploadNotFound:
        raise NotFoundException(detail=f"no multipart upload {upload_id!r} for {key}") from None
    except PartsRefused as refused:
        raise ClientException(
            status_code=400, detail=f"S3 refused to complete the upload ({refused.code}): {refused.message}"
        ) from None
    return Completed(key=key)


@delete("/v1/sessions/{session_id:str}/multipart/{upload_id:str}", status_code=200)
async def abort_multipart(
    session_id: FromPath[str],
    upload_id: FromPath[str],
    state: State,
    caller: CallerDep,
    key: Annotated[str, Parameter(max_length=400, description="the upload's key")],
) -> Aborted:
    """Give up a multipart upload: S3 drops the parts uploaded so far."""
    await owned_meta(state, session_id, caller)
    _check_upload_id(upload_id)
    key = _session_upload(session_id, key)
    await _started_here(state, session_id, upload_id, key)
    try:
        await object_store(state).abort_multipart(key, upload_id)
    except UploadNotFound:
        raise NotFoundException(detail=f"no multipart upload {upload_id!r} for {key}") from None
    return Aborted()


ROUTES = [create_multipart, complete_multipart, abort_multipart]
