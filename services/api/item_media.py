"""An enhancement item's files as a client takes them: the enhanced file for the bearer of the token
(``GET …/items/{name}/file``), and short-lived presigned GETs of a video item's clips for a ``<video>``
element (``GET …/items/{name}/media``).

A ``<video>`` cannot send the bearer token, and a clip is too large to hand over as a blob before it plays,
so the page asks ``…/media`` (with the token, owner-only like every session route) for presigned URLs
that read the clips straight from storage for ``settings.api.media_url_ttl_s`` seconds: ``after`` the
enhanced clip, ``before`` the original's 720p preview media_process made (H.264, which every browser
plays; the original itself when there is no preview). The page's Content-Security-Policy lets media come
from the storage endpoint (``page.content_security_policy``). A URL that has run out is asked for again
(the page does when its ``<video>`` fails); signing is local, so asking costs one read of the item.

``…/file`` streams the enhanced file as stored, ``video/mp4`` or ``image/jpeg`` by its key, named
``<stem>-enhanced.mp4`` or ``….jpg`` (``download_name``; the zip names its entries the same).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Stream

from services.api.access import CallerDep, event_log, job_of, object_store, owned_meta
from shared.runtime.inbound import upload_key
from shared.runtime.projections import enhanced_item_key, file_key
from shared.runtime.read_models import EnhancedItemView, FileView
from shared.runtime.storage import ObjectNotFound

#: how much of a file is read from the store (and sent) at a time
CHUNK = 1 << 20
#: the enhanced files' media types, by the extension of their keys (the services write these two)
MEDIA_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
#: a media_process preview's media type (H.264 + AAC MP4: ``services/media_process/video/preview.py``)
PREVIEW_TYPE = "video/mp4"


class MediaLink(msgspec.Struct, frozen=True, kw_only=True):
    #: a presigned GET of the clip, valid for the answer's ``expires_in_s``
    url: str
    media_type: str


class ItemMedia(msgspec.Struct, frozen=True, kw_only=True):
    """Where a ``<video>`` plays a video item from: presigned GETs straight from storage."""

    #: the original: its 720p preview, or the upload itself when it has none; null when deleted
    before: MediaLink | None
    #: the enhanced clip (the latest result's); null until the item is enhanced
    after: MediaLink | None
    #: how long both URLs are valid (seconds): ask again after that
    expires_in_s: int


def media_type_of(key: str) -> str:
    """An enhanced file's media type, by its key's extension (JPEG unless it names another)."""
    dot = key.rfind(".")
    return MEDIA_TYPES.get(key[dot:].lower(), "image/jpeg") if dot >= 0 else "image/jpeg"


def download_name(name: str, enhanced_key: str) -> str:
    """``DSCN0010.jpg`` -> ``DSCN0010-enhanced.jpg``, ``clip.mov`` -> ``clip-enhanced.mp4``: the upload's
    stem, and the extension of what was stored (a video comes back MP4 whatever it was)."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}-enhanced{'.mp4' if media_type_of(enhanced_key) == 'video/mp4' else '.jpg'}"


async def _item(state: State, session_id: str, job_id: str, name: str) -> EnhancedItemView:
    item = await event_log(state).get_view(
        enhanced_item_key(session_id, job_id, upload_key(session_id, name)), type=EnhancedItemView
    )
    if item is None:
        raise NotFoundException(detail=f"no item {name!r} in enhancement {job_id}")
    return item


@get("/v1/sessions/{session_id:str}/enhancements/{job_id:str}/items/{name:str}/media")
async def item_media(
    session_id: FromPath[str], job_id: FromPath[str], name: FromPath[str], state: State, caller: CallerDep
) -> ItemMedia:
    """Presigned GETs a ``<video>`` plays a video item from (it cannot send the token): the original's
    preview (``before``) and the enhanced clip (``after``, null until enhanced), valid for
    ``expires_in_s``. 404 for an item that is not a video of this job."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    await job_of(log_, session_id, job_id, "enhancement")
    item = await _item(state, session_id, job_id, name)
    if item.kind != "video":
        raise NotFoundException(detail=f"item {name!r} is not a video")
    store = object_store(state)
    ttl = state.settings.api.media_url_ttl_s
    after = None
    if item.status == "enhanced" and item.enhanced_key:
        media_type = media_type_of(item.enhanced_key)
        after = MediaLink(
            url=await store.presign_get(item.enhanced_key, ttl, media_type=media_type), media_type=media_type
        )
    before = None
    original = await log_.get_view(file_key(session_id, upload_key(session_id, name)), type=FileView)
    if original is not None and not original.deleted:
        key, media_type = (
            (original.preview, PREVIEW_TYPE)
            if original.preview
            else (original.key, original.media_type or "application/octet-stream")
        )
        before = MediaLink(
            url=await store.presign_get(key, ttl, media_type=media_type), media_type=media_type
        )
    return ItemMedia(before=before, after=after, expires_in_s=ttl)


@get("/v1/sessions/{session_id:str}/enhancements/{job_id:str}/items/{name:str}/file")
async def enhanced_file(
    session_id: FromPath[str], job_id: FromPath[str], name: FromPath[str], state: State, caller: CallerDep
) -> Stream:
    """The enhanced file, full resolution, the latest result's: a JPEG, or a video item's MP4; streamed,
    as an attachment (``<stem>-enhanced.jpg`` / ``.mp4``)."""
    await owned_meta(state, session_id, caller)
    item = await _item(state, session_id, job_id, name)
    if item.enhanced_key is None:
        raise NotFoundException(detail=f"no enhanced file for {name!r}")
    store = object_store(state)
    try:
        await store.head(item.enhanced_key)  # a 404 now, not a broken stream
    except ObjectNotFound:
        raise NotFoundException(detail=f"no enhanced file for {name!r}") from None
    headers: dict[str, Any] = {
        "Cache-Control": "private, no-cache",
        "Content-Disposition": f'attachment; filename="{download_name(name, item.enhanced_key)}"',
    }
    media_type = media_type_of(item.enhanced_key)
    return Stream(store.stream(item.enhanced_key, CHUNK), media_type=media_type, headers=headers)


ROUTES = [item_media, enhanced_file]
