"""Enhancement over HTTP: ask for one (a list of keys, or a selection's picks), read it item by item,
cancel it, and give an item feedback.

``POST /v1/sessions/{id}/enhancements`` records ``enhancement.initialized`` and the job's keys as
``enhancement.requested`` chunks (``CHUNK_KEYS`` each: the fan-out of one is one commit, ``fanout.py``),
never thousands of keys in one event, and starts the enhancement saga
(``deploy/sagas/enhancement.asl.json``): it waits for every item to end and has the api record
``enhancement.completed``. ``GET`` answers per item: status, latest phase, changes, before/after
thumbnails (the route here, owner-only) and the enhanced file (``item_media``: the file, and a video's
clips as presigned GETs for the page's ``<video>``), or its error. ``DELETE`` cancels: the job's
items not started end ``enhancement.item.cancelled`` (each item's one-ending claim keeps a racing result
from counting twice). ``POST …/items/{name}/feedback`` records ``enhancement.feedback.requested`` with the
item's next revision; the item's ``feedback_completed`` reaching it is the answer.
"""

from __future__ import annotations

import contextlib
import math
import urllib.parse
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody

from services.api.access import (
    CallerDep,
    api_event,
    command_queue,
    etag_headers,
    event_log,
    job_of,
    not_modified,
    object_store,
    owned_meta,
    saga_starter,
    session_etag,
    start_job_saga,
    unchanged,
)
from services.api.files import thumbnail_url
from services.api.topology import ENHANCEMENT_SAGA
from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.events.envelope import Event
from shared.events.selection_results import SelectionResults
from shared.runtime.config import Settings
from shared.runtime.inbound import upload_key
from shared.runtime.log import ClaimTaken, EventLog
from shared.runtime.projections import enhanced_item_key, job_key, session_pk
from shared.runtime.read_models import EnhancedItemView, FeedbackTurnView, FileView, JobView
from shared.runtime.sagas import CommandQueue, SagaNotDeployed, SagaStarter
from shared.runtime.storage import ObjectNotFound
from shared.runtime.views import ViewExpectation

#: the saga polls every 3 s; its budget (``settings.enhancement.wait_s``) is in polls
POLL_S = 3
MAX_ITEMS = 5000
#: events per commit the API makes (each takes two transaction items, with the JOB and COUNTERS beside)
EVENTS_PER_COMMIT = 45
#: how often a feedback request is tried again when the item changed between its read and its commit
FEEDBACK_TRIES = 3

Key = Annotated[str, msgspec.Meta(max_length=600)]


class RequestEnhancement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: the keys to enhance (the session's processed files), or
    keys: Annotated[list[Key], msgspec.Meta(max_length=MAX_ITEMS)] | None = None
    #: a complete selection: its picks (the person's edited ones when edited)
    selection_job_id: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class EnhancementJob(msgspec.Struct, frozen=True):
    job_id: str
    session_id: str
    total: int
    photos: int
    videos: int


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One turn of an item's history: revision 0 is the enhancement, each later one a feedback pass."""

    revision: int
    feedback: str | None = None
    #: pending (asked, not answered yet) | done | failed
    status: str
    changes: list[str] = []
    #: what the provider said it did and did not understand, or the pass's error
    message: str = ""


class ItemOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    index: int | None
    kind: str | None
    #: queued | running (it has a phase) | enhanced | failed | cancelled | skipped
    status: str
    phase: str | None = None
    phase_summary: str | None = None
    #: a video's phase progress, 0..100 (rendering); None when not measured
    phase_percent: float | None = None
    changes: list[str] = []
    before_thumbnail_url: str | None = None
    after_thumbnail_url: str | None = None
    enhanced_url: str | None = None
    code: str | None = None
    error: str | None = None
    feedback: str | None = None
    feedback_requested: int = 0
    feedback_completed: int = 0
    feedback_message: str | None = None
    #: the enhancement, then every feedback pass, oldest first
    history: list[Turn] = []
    #: a video failed ``too_long``: its duration and the longest clip the service renders (seconds)
    duration_s: float | None = None
    limit_s: float | None = None


class EnhancementState(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    session_id: str
    #: processing | done | partial | failed | cancelled
    status: str
    total: int
    done: int
    failed: int
    cancelled: int
    skipped: int
    cancel_requested: bool
    selection_job_id: str | None
    created_at: str | None
    items: list[ItemOut]
    #: the session's version this answer is as of
    version: int = 0


class Feedback(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    feedback: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class FeedbackAccepted(msgspec.Struct, frozen=True):
    job_id: str
    key: str
    #: the item's ``feedback_completed`` reaches this when the pass is done
    revision: int


def _new_job_id() -> str:
    return "enh-" + uuid.uuid4().hex[:20]


async def start_enhancement_saga(
    sagas: SagaStarter, commands: CommandQueue, settings: Settings, session_id: str, job_id: str
) -> str:
    """Start the job's saga and return the execution's name (the job's, so a repeated start is the same
    execution). Raises ``SagaNotDeployed``."""
    polls = {"item_polls": {"left": math.ceil(settings.enhancement.wait_s / POLL_S)}}
    return await start_job_saga(
        sagas,
        commands,
        settings,
        ENHANCEMENT_SAGA.name,
        session_id=session_id,
        job_id=job_id,
        attempt=1,
        budgets=polls,
    )


async def _picks(state: State, log_: EventLog, session_id: str, selection_job_id: str) -> list[str]:
    job = await log_.get_view(job_key(session_id, selection_job_id), type=JobView)
    if job is None or job.kind != "selection":
        raise NotFoundException(detail=f"no selection {selection_job_id!r} in this session")
    results_key = job.picks_key or job.results_key
    if job.status != "complete" or results_key is None:
        raise ClientException(status_code=409, detail=f"selection {selection_job_id} is not complete")
    results = msgspec.json.decode(await object_store(state).get(results_key), type=SelectionResults)
    return [p.key for p in results.selected]


def request_events(
    session_id: str, job_id: str, keys: list[str], videos: set[str], selection_job_id: str | None
) -> list[Event[Any]]:
    """The job as recorded: ``enhancement.initialized``, then its keys in ``CHUNK_KEYS`` chunks."""
    chunks = [keys[i : i + en.CHUNK_KEYS] for i in range(0, len(keys), en.CHUNK_KEYS)]
    initialized = en.EnhancementInitializedData(
        job_id=job_id,
        total=len(keys),
        photos=len(keys) - len(videos),
        videos=len(videos),
        selection_job_id=selection_job_id,
        chunks=len(chunks),
    )
    requested = [
        c.EnhancementRequestedData(
            job_id=job_id,
            keys=chunk,
            first_index=n * en.CHUNK_KEYS,
            total=len(keys),
            videos=[k for k in chunk if k in videos],
        )
        for n, chunk in enumerate(chunks)
    ]
    return [api_event(initialized, session_id), *(api_event(r, session_id) for r in requested)]


@post("/v1/sessions/{session_id:str}/enhancements", status_code=202)
async def request_enhancement(
    session_id: FromPath[str], data: JSONBody[RequestEnhancement], state: State, caller: CallerDep
) -> EnhancementJob:
    """Enhance ``keys`` (the session's processed files) or the picks of the complete selection
    ``selection_job_id``; poll ``GET …/enhancements/{job}``. Videos are skipped while no video service is
    deployed (they end at once; the job never waits for them)."""
    await owned_meta(state, session_id, caller)
    if (data.keys is None) == (data.selection_job_id is None):
        raise ClientException(status_code=400, detail="give either keys or selection_job_id")
    log_ = event_log(state)
    asked = (
        data.keys
        if data.keys is not None
        else await _picks(state, log_, session_id, data.selection_job_id or "")
    )
    keys = list(dict.fromkeys(asked))  # each once, in the order asked
    if not keys:
        raise ClientException(status_code=400, detail="nothing to enhance")
    files = {f.key: f for f in await log_.query_views(session_pk(session_id), "FILE#", type=FileView)}
    unknown = [k for k in keys if k not in files or files[k].status != "processed" or files[k].deleted]
    if unknown:
        raise ClientException(
            status_code=400,
            detail=f"{len(unknown)} keys are not processed files of this session, e.g. {unknown[:3]}",
        )
    videos = {k for k in keys if files[k].kind == "video"}
    job_id = _new_job_id()
    events = request_events(session_id, job_id, keys, videos, data.selection_job_id)
    for i in range(0, len(events), EVENTS_PER_COMMIT):
        await log_.commit(events[i : i + EVENTS_PER_COMMIT])
    try:
        await start_enhancement_saga(
            saga_starter(state), command_queue(state), state.settings, session_id, job_id
        )
    except SagaNotDeployed:
        raise ClientException(status_code=503, detail="the enhancement saga is not deployed") from None
    return EnhancementJob(
        job_id=job_id,
        session_id=session_id,
        total=len(keys),
        photos=len(keys) - len(videos),
        videos=len(videos),
    )


def _item_url(session_id: str, job_id: str, name: str, what: str) -> str:
    return f"/v1/sessions/{session_id}/enhancements/{job_id}/items/{urllib.parse.quote(name)}/{what}"


def _item(
    session_id: str,
    job_id: str,
    item: EnhancedItemView,
    files: dict[str, FileView],
    turns: dict[str, list[Turn]],
) -> ItemOut:
    key = item.sk.removeprefix(f"ITEM#{job_id}#")
    name = key.rsplit("/", 1)[-1]
    original = files.get(key)
    before = (
        thumbnail_url(session_id, name) if original and original.thumbnail and not original.deleted else None
    )
    status = item.status or "queued"
    ended = status not in ("queued",)
    return ItemOut(
        key=key,
        name=name,
        index=item.index,
        kind=item.kind,
        status="running" if status == "queued" and item.phase else status,
        phase=item.phase,
        phase_summary=item.phase_summary,
        phase_percent=item.phase_percent,
        changes=list(item.changes),
        before_thumbnail_url=before,
        after_thumbnail_url=_item_url(session_id, job_id, name, "thumbnail") if item.thumbnail else None,
        enhanced_url=_item_url(session_id, job_id, name, "file") if item.enhanced_key else None,
        code=item.code if ended and status == "failed" else None,
        error=item.message if ended and status in ("failed", "skipped") else None,
        feedback=item.feedback,
        feedback_requested=item.feedback_requested,
        feedback_completed=item.feedback_completed,
        feedback_message=item.feedback_message,
        history=turns.get(key, []),
        duration_s=item.duration_s,
        limit_s=item.limit_s,
    )


def _turns(views: list[FeedbackTurnView], job_id: str) -> dict[str, list[Turn]]:
    """Each item's history (``FEEDBACK#<job>#<key>#<revision>``), oldest turn first."""
    out: dict[str, list[Turn]] = {}
    for t in sorted(views, key=lambda t: t.revision):
        key = t.sk.removeprefix(f"FEEDBACK#{job_id}#").rsplit("#", 1)[0]
        turn = Turn(
            revision=t.revision, feedback=t.feedback, status=t.status, changes=t.changes, message=t.message
        )
        out.setdefault(key, []).append(turn)
    return out


async def _state(log_: EventLog, session_id: str, job_id: str, version: int) -> EnhancementState:
    job = await job_of(log_, session_id, job_id, "enhancement")
    pk = session_pk(session_id)
    items = await log_.query_views(pk, f"ITEM#{job_id}#", type=EnhancedItemView)
    files = {f.key: f for f in await log_.query_views(pk, "FILE#", type=FileView)}
    turns = _turns(await log_.query_views(pk, f"FEEDBACK#{job_id}#", type=FeedbackTurnView), job_id)
    out = sorted(
        (_item(session_id, job_id, i, files, turns) for i in items),
        key=lambda i: (i.index is None, i.index or 0, i.key),
    )
    return EnhancementState(
        job_id=job_id,
        session_id=session_id,
        status=job.status or "processing",
        total=job.total or 0,
        done=job.done,
        failed=job.failed,
        cancelled=job.cancelled,
        skipped=job.skipped,
        cancel_requested=job.cancel_requested,
        selection_job_id=job.selection_job_id,
        created_at=job.created_at,
        items=out,
        version=version,
    )


@get("/v1/sessions/{session_id:str}/enhancements/{job_id:str}")
async def enhancement_state(
    session_id: FromPath[str],
    job_id: FromPath[str],
    state: State,
    caller: CallerDep,
    request: Request[Any, Any, Any],
) -> Response[EnhancementState | None]:
    """The job and each of its items (status, latest phase, changes, before/after thumbnails, the
    enhanced file, or its error; its history: the enhancement, then each feedback pass). Poll with
    ``If-None-Match``: an unchanged answer is a 304."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    counters = await log_.counters(session_id)
    etag = session_etag(counters, f"enhancement-{job_id}")
    if not_modified(request, etag):
        return unchanged(etag)
    answer = await _state(log_, session_id, job_id, counters.version)
    return Response(answer, headers=etag_headers(etag))


@delete("/v1/sessions/{session_id:str}/enhancements/{job_id:str}", status_code=200)
async def cancel_enhancement(
    session_id: FromPath[str], job_id: FromPath[str], state: State, caller: CallerDep
) -> EnhancementState:
    """Cancel the job: no item starts any more; the ones not started end ``cancelled``, the running ones
    finish. Cancelling again changes nothing."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    job = await job_of(log_, session_id, job_id, "enhancement")
    if not job.cancel_requested and job.status == "processing":
        await log_.commit([api_event(en.EnhancementCancelledData(job_id=job_id), session_id)])
    items = await log_.query_views(session_pk(session_id), f"ITEM#{job_id}#", type=EnhancedItemView)
    for item in items:
        if item.status not in (None, "queued") or item.phase is not None:
            continue  # ended, or running: it finishes
        key = item.sk.removeprefix(f"ITEM#{job_id}#")
        # ClaimTaken: it ended meanwhile (a result, or another cancel): its one ending stands
        with contextlib.suppress(ClaimTaken):
            await log_.commit([api_event(en.ItemCancelledData(job_id=job_id, key=key), session_id)])
    counters = await log_.counters(session_id)
    return await _state(log_, session_id, job_id, counters.version)


@post("/v1/sessions/{session_id:str}/enhancements/{job_id:str}/items/{name:str}/feedback", status_code=202)
async def item_feedback(
    session_id: FromPath[str],
    job_id: FromPath[str],
    name: FromPath[str],
    data: JSONBody[Feedback],
    state: State,
    caller: CallerDep,
) -> FeedbackAccepted:
    """Another pass over an enhanced item, from its current result, as the sentence asks. Answered at
    once with the revision; the item's ``feedback_completed`` reaches it when the pass is done."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    await job_of(log_, session_id, job_id, "enhancement")
    key = upload_key(session_id, name)
    view = enhanced_item_key(session_id, job_id, key)
    for _ in range(FEEDBACK_TRIES):
        item = await log_.get_view(view, type=EnhancedItemView)
        if item is None:
            raise NotFoundException(detail=f"no item {name!r} in enhancement {job_id}")
        if item.status != "enhanced":
            raise ClientException(
                status_code=409, detail=f"item {name!r} is {item.status or 'queued'}, not enhanced"
            )
        revision = item.feedback_requested + 1
        event = c.EnhancementFeedbackRequestedData(
            job_id=job_id, key=key, feedback=data.feedback, revision=revision
        )
        try:
            await log_.commit([api_event(event, session_id)], expect=[ViewExpectation(view, item.version)])
        except ClaimTaken:
            continue
        return FeedbackAccepted(job_id=job_id, key=key, revision=revision)
    raise ClientException(status_code=409, detail="the item kept changing; try again")


async def _thumbnail_bytes(state: State, session_id: str, job_id: str, name: str) -> bytes:
    item = await event_log(state).get_view(
        enhanced_item_key(session_id, job_id, upload_key(session_id, name)), type=EnhancedItemView
    )
    if item is None or item.thumbnail is None:
        raise NotFoundException(detail=f"no enhanced thumbnail for {name!r}")
    try:
        return await object_store(state).get(item.thumbnail)
    except ObjectNotFound:
        raise NotFoundException(detail=f"no enhanced thumbnail for {name!r}") from None


@get(
    "/v1/sessions/{session_id:str}/enhancements/{job_id:str}/items/{name:str}/thumbnail",
    media_type="image/jpeg",
)
async def enhanced_thumbnail(
    session_id: FromPath[str], job_id: FromPath[str], name: FromPath[str], state: State, caller: CallerDep
) -> Response[bytes]:
    """The enhanced item's 400 px thumbnail (JPEG): the latest result's."""
    await owned_meta(state, session_id, caller)
    data = await _thumbnail_bytes(state, session_id, job_id, name)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-cache"})


ROUTES = [
    request_enhancement,
    enhancement_state,
    cancel_enhancement,
    item_feedback,
    enhanced_thumbnail,
]
