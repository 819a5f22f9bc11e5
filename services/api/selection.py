"""Selection over HTTP: ask for one (starts its saga), read it, and move items between picks and exclusions.

``POST /v1/sessions/{id}/selections`` records ``selection.initialized`` (the job exists at once, ``pending``)
and starts the selection saga (``deploy/sagas/selection.asl.json``): it waits for the session's files and
its triage, has the api record ``selection.requested``, and waits for ``selection.completed`` or
``selection.failed``. ``GET`` answers with the results file (``shared/events/selection_results.py``) and a
thumbnail URL per item; ``PUT …/picks`` writes the person's edited lists as a new results file and records
``selection.picks.edited`` (what is enhanced later is the edited list).
"""

from __future__ import annotations

import collections
import math
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post, put
from litestar.datastructures import State
from litestar.exceptions import ClientException
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
from services.api.files import file_statuses
from services.api.topology import SELECTION_SAGA
from shared.events import selection_edits as se
from shared.events.selection_results import Exclusion, ExclusionCategory, Pick, SceneGroup, SelectionResults
from shared.runtime.config import Settings
from shared.runtime.log import ClaimTaken
from shared.runtime.projections import job_key, session_pk
from shared.runtime.read_models import FileView, JobView
from shared.runtime.sagas import CommandQueue, SagaNotDeployed, SagaStarter
from shared.runtime.views import ViewExpectation

#: the saga polls every 3 s; its budgets (``settings.selection``, ``SHOEBOX_SELECTION_*``) are in polls
POLL_S = 3
MAX_ITEMS = 5000
MAX_CONTEXT = 2000
#: how often an edit of the picks is tried again when another edit landed between its read and its commit
EDIT_TRIES = 3

Count = Annotated[int, msgspec.Meta(ge=1, le=MAX_ITEMS)] | Literal["all"]
Key = Annotated[str, msgspec.Meta(max_length=600)]
Keys = Annotated[list[Key], msgspec.Meta(max_length=MAX_ITEMS)]


class RequestSelection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: how many picks, or ``"all"``: every item triage kept, in rank order, nothing collapsed
    count: Count = 12
    #: the trip in the person's words; the session's own context when empty
    context: Annotated[str, msgspec.Meta(max_length=MAX_CONTEXT)] = ""
    model: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class SelectionJob(msgspec.Struct, frozen=True):
    job_id: str
    session_id: str
    attempt: int
    triage_job_id: str
    count: int | Literal["all"]


class PickOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    rank: int
    scene: str | None
    reason: str
    comparison: str | None = None
    duplicate_of: str | None = None
    by_person: bool = False
    kind: str | None = None
    thumbnail_url: str | None = None


class ExclusionOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    category: ExclusionCategory
    reason: str
    duplicate_of: str | None = None
    by_person: bool = False
    scene: str | None = None
    kind: str | None = None
    thumbnail_url: str | None = None


class SelectionState(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    session_id: str
    #: pending (waiting for the files and the triage) | analyzing | complete | error
    status: str
    attempt: int
    count: int | Literal["all"]
    context: str
    triage_job_id: str | None
    created_at: str | None = None
    provider: str | None = None
    #: once complete: the picks in rank order, every other processed item, the scenes in time order
    selected: list[PickOut] = []
    excluded: list[ExclusionOut] = []
    scene_groups: list[SceneGroup] = []
    repairs: list[str] = []
    tokens: int | None = None
    #: the person's edits: how many were saved (0: the lists are the provider's)
    revision: int = 0
    code: str | None = None
    error: str | None = None
    #: the session's version this answer is as of
    version: int = 0


class SelectionList(msgspec.Struct, frozen=True):
    selections: list[SelectionState]


class EditPicks(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: the picks in the rank order the person wants
    selected: Keys
    #: every other item of the selection
    excluded: Keys
    #: the revision this edit was made on (the last answer's ``revision``): 409 when another edit landed
    revision: int | None = None


def _new_job_id() -> str:
    return "sel-" + uuid.uuid4().hex[:20]


async def start_selection_saga(
    sagas: SagaStarter,
    commands: CommandQueue,
    settings: Settings,
    session_id: str,
    job: JobView,
    job_id: str,
) -> str:
    """Start the job's saga (attempt ``job.attempt``) and return the execution's name: named from the job
    and the attempt, so a repeated start is the same execution. Raises ``SagaNotDeployed``."""
    budgets = settings.selection
    polls = {
        "triage_job_id": job.triage_job_id,
        "files_polls": {"left": math.ceil(budgets.wait_s / POLL_S)},
        "triage_polls": {"left": math.ceil(settings.triage.verdict_wait_s / POLL_S)},
        "result_polls": {"left": math.ceil(budgets.result_wait_s / POLL_S)},
    }
    return await start_job_saga(
        sagas,
        commands,
        settings,
        SELECTION_SAGA.name,
        session_id=session_id,
        job_id=job_id,
        attempt=job.attempt,
        budgets=polls,
    )


@post("/v1/sessions/{session_id:str}/selections", status_code=202)
async def request_selection(
    session_id: FromPath[str], data: JSONBody[RequestSelection], state: State, caller: CallerDep
) -> SelectionJob:
    """Ask for a selection of the session's media: the best ``count`` (or ``"all"``, ranked) grouped into
    scenes, with a reason for each pick and a category and reason for every other processed file. It runs
    once every expected file is decided and the session's triage is complete (a triage must have been
    started: 409 otherwise); poll ``GET …/selections/{job}``."""
    meta = await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    triage_job_id = (await log_.counters(session_id)).job_id
    if triage_job_id is None:
        raise ClientException(
            status_code=409,
            detail="this session has no triage: start it (POST /v1/sessions/{id}/triage) before a selection",
        )
    triage = await log_.get_view(job_key(session_id, triage_job_id), type=JobView)
    if triage is not None and triage.status == "error":
        raise ClientException(
            status_code=409,
            detail=f"the session's triage {triage_job_id} failed: retry it, then ask for the selection",
        )
    job_id = _new_job_id()
    count = None if data.count == "all" else data.count
    initialized = se.SelectionInitializedData(
        job_id=job_id,
        triage_job_id=triage_job_id,
        count=count,
        context=data.context or meta.context,
        model=data.model,
    )
    await log_.commit([api_event(initialized, session_id)])
    job = await job_of(log_, session_id, job_id, "selection")
    try:
        await start_selection_saga(
            saga_starter(state), command_queue(state), state.settings, session_id, job, job_id
        )
    except SagaNotDeployed:
        raise ClientException(status_code=503, detail="the selection saga is not deployed") from None
    return SelectionJob(
        job_id=job_id,
        session_id=session_id,
        attempt=job.attempt,
        triage_job_id=triage_job_id,
        count=data.count,
    )


@get("/v1/sessions/{session_id:str}/selections")
async def list_selections(session_id: FromPath[str], state: State, caller: CallerDep) -> SelectionList:
    """The session's selections, newest first, without their lists (``GET …/selections/{job}`` has them)."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    counters = await log_.counters(session_id)
    jobs = [
        j
        for j in await log_.query_views(session_pk(session_id), "JOB#", type=JobView)
        if j.kind == "selection"
    ]
    jobs.sort(key=lambda j: j.created_at or "", reverse=True)
    return SelectionList([_state(session_id, j, None, {}, counters.version) for j in jobs])


@get("/v1/sessions/{session_id:str}/selections/{job_id:str}")
async def selection_results(
    session_id: FromPath[str],
    job_id: FromPath[str],
    state: State,
    caller: CallerDep,
    request: Request[Any, Any, Any],
) -> Response[SelectionState | None]:
    """The selection: its status while it waits and runs; once complete the picks in rank order (each with
    its scene, reason and, where it beat a near rival, the comparison), every other processed file with a
    category and reason, and the scenes; the person's edited lists once they edited them. Thumbnail URLs
    for each item. Poll with ``If-None-Match``: an unchanged answer is a 304."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    counters = await log_.counters(session_id)
    etag = session_etag(counters, f"selection-{job_id}")
    if not_modified(request, etag):
        return unchanged(etag)
    job = await job_of(log_, session_id, job_id, "selection")
    results = await _results(state, job)
    files = await log_.query_views(session_pk(session_id), "FILE#", type=FileView) if results else []
    answer = _state(session_id, job, results, {f.key: f for f in files}, counters.version)
    return Response(answer, headers=etag_headers(etag))


async def _results(state: State, job: JobView) -> SelectionResults | None:
    """A complete job's lists: the person's edit when there is one, else the provider's."""
    key = job.picks_key or job.results_key
    if job.status != "complete" or key is None:
        return None
    return msgspec.json.decode(await object_store(state).get(key), type=SelectionResults)


def _state(
    session_id: str,
    job: JobView,
    results: SelectionResults | None,
    files: dict[str, FileView],
    version: int,
) -> SelectionState:
    job_id = job.sk.removeprefix("JOB#")
    shown = {f.key: f for f in file_statuses(session_id, files.values())}
    scene_of = {k: g.id for g in (results.scene_groups if results else []) for k in g.items}

    def kind(key: str) -> str | None:
        f = shown.get(key)
        return f.kind if f else None

    def thumbnail(key: str) -> str | None:
        f = shown.get(key)
        return f.thumbnail_url if f else None

    selected = [
        PickOut(
            key=p.key,
            name=p.name,
            rank=p.rank,
            scene=p.scene,
            reason=p.reason,
            comparison=p.comparison,
            duplicate_of=p.duplicate_of,
            by_person=p.by_person,
            kind=kind(p.key),
            thumbnail_url=thumbnail(p.key),
        )
        for p in (results.selected if results else [])
    ]
    excluded = [
        ExclusionOut(
            key=x.key,
            name=x.name,
            category=x.category,
            reason=x.reason,
            duplicate_of=x.duplicate_of,
            by_person=x.by_person,
            scene=scene_of.get(x.key),
            kind=kind(x.key),
            thumbnail_url=thumbnail(x.key),
        )
        for x in (results.excluded if results else [])
    ]
    return SelectionState(
        job_id=job_id,
        session_id=session_id,
        status=job.status or "pending",
        attempt=job.attempt,
        count="all" if job.count is None else job.count,
        context=job.context or "",
        triage_job_id=job.triage_job_id,
        created_at=job.created_at,
        provider=job.provider,
        selected=selected,
        excluded=excluded,
        scene_groups=list(results.scene_groups) if results else [],
        repairs=list(results.repairs) if results else [],
        tokens=results.tokens if results else None,
        revision=job.picks_revision,
        code=job.code if job.status == "error" else None,
        error=job.message if job.status == "error" else None,
        version=version,
    )


def edited_results(results: SelectionResults, edit: EditPicks, revision: int) -> SelectionResults:
    """The results with the person's lists: ``edit.selected`` in its order, ``edit.excluded`` after. Every
    item of ``results`` must be named exactly once across the two (400 naming what is missing, repeated or
    unknown). An item keeps what it had where it stays on its side; one moved is marked ``by_person``."""
    picks = {p.key: p for p in results.selected}
    exclusions = {x.key: x for x in results.excluded}
    known = picks.keys() | exclusions.keys()
    named = [*edit.selected, *edit.excluded]
    repeated = sorted(k for k, n in collections.Counter(named).items() if n > 1)
    unknown = sorted(set(named) - known)
    missing = sorted(known - set(named))
    if repeated or unknown or missing:
        problems = {"repeated": repeated, "unknown": unknown, "missing": missing}
        said = "; ".join(f"{what}: {', '.join(ks[:10])}" for what, ks in problems.items() if ks)
        raise ClientException(
            status_code=400,
            detail=f"the edited lists must name every item of the selection exactly once ({said})",
            extra=problems,
        )
    scene_of = {k: g.id for g in results.scene_groups for k in g.items}
    selected: list[Pick] = []
    for rank, key in enumerate(edit.selected, start=1):
        was = picks.get(key)
        if was is not None:
            selected.append(msgspec.structs.replace(was, rank=rank))
            continue
        x = exclusions[key]
        selected.append(
            Pick(
                key=key,
                name=x.name,
                rank=rank,
                scene=scene_of.get(key),
                reason=f"Picked by the person (it was excluded: {x.reason})",
                by_person=True,
            )
        )
    excluded: list[Exclusion] = []
    for key in edit.excluded:
        kept = exclusions.get(key)
        if kept is not None:
            excluded.append(kept)
            continue
        p = picks[key]
        excluded.append(
            Exclusion(
                key=key,
                name=p.name,
                category="quality",
                reason=f"Moved out of the picks by the person (it was rank {p.rank}: {p.reason})",
                by_person=True,
            )
        )
    excluded.sort(key=lambda x: (x.name, x.key))
    return msgspec.structs.replace(results, selected=selected, excluded=excluded, revision=revision)


@put("/v1/sessions/{session_id:str}/selections/{job_id:str}/picks", status_code=200)
async def edit_picks(
    session_id: FromPath[str],
    job_id: FromPath[str],
    data: JSONBody[EditPicks],
    state: State,
    caller: CallerDep,
) -> SelectionState:
    """Move items between the picks and the exclusions, and reorder the picks: name every item of the
    selection once, the picks in the order wanted. Recorded as ``selection.picks.edited``; the answer is
    the selection as edited. With ``revision`` (the last answer's), an edit made meanwhile is a 409."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    for _ in range(EDIT_TRIES):
        job = await job_of(log_, session_id, job_id, "selection")
        results = await _results(state, job)
        if results is None:
            raise ClientException(
                status_code=409, detail=f"selection {job_id} is {job.status!r}, not complete"
            )
        if data.revision is not None and data.revision != job.picks_revision:
            raise ClientException(
                status_code=409,
                detail=f"the picks were edited meanwhile (revision {job.picks_revision}, not "
                f"{data.revision}): read them again",
            )
        revision = job.picks_revision + 1
        edited = edited_results(results, data, revision)
        picks_key = f"results/{session_id}/selection-{job_id}-picks-{revision}.json"
        await object_store(state).put(picks_key, msgspec.json.encode(edited), "application/json")
        event = se.SelectionPicksEditedData(
            job_id=job_id,
            attempt=results.attempt,
            picks_key=picks_key,
            revision=revision,
            selected=len(edited.selected),
            excluded=len(edited.excluded),
        )
        try:
            await log_.commit(
                [api_event(event, session_id)],
                expect=[ViewExpectation(job_key(session_id, job_id), job.version)],
            )
        except ClaimTaken:
            continue
        counters = await log_.counters(session_id)
        job = await job_of(log_, session_id, job_id, "selection")
        files = await log_.query_views(session_pk(session_id), "FILE#", type=FileView)
        return _state(session_id, job, edited, {f.key: f for f in files}, counters.version)
    raise ClientException(status_code=409, detail="the picks kept changing; read them and edit again")


ROUTES = [request_selection, list_selections, selection_results, edit_picks]
