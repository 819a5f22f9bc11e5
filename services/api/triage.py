"""Triage over HTTP: init (starts the saga), finalize, results, retry, confirm, cleanup.

The saga (``deploy/sagas/triage.asl.json``) starts at ``init``, so verdicts arrive without any further
call once every expected file is decided; ``finalize`` only tells it which uploads failed (they are
subtracted from the expected count at once) and starts the overall deadline. Executions are named from the
job and the attempt: a repeated start is the same execution, a retry a new one.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import uuid
from typing import Annotated, Any, NoReturn

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody

from services.api.access import (
    AfterVersion,
    CallerDep,
    Snapshot,
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
    snapshot,
    start_job_saga,
    unchanged,
)
from services.api.changes import changes
from services.api.files import FileStatus, file_statuses, listed
from services.api.topology import TRIAGE_SAGA
from shared.events import catalogue as c
from shared.events.envelope import Event
from shared.runtime.config import Settings, TriageSettings
from shared.runtime.inbound import ALL_PREFIXES, UPLOADS, is_plain_name, upload_key
from shared.runtime.log import ClaimTaken, EventLog
from shared.runtime.projections import counters_key, file_key, job_key, session_pk
from shared.runtime.read_models import CountersView, FileView, JobView
from shared.runtime.sagas import CommandQueue, SagaNotDeployed, SagaStarter
from shared.runtime.views import ViewExpectation

log = logging.getLogger("shoebox.api.triage")
MAX_FILES = 5000
#: how often finalize checks the names again when an event landed between its reads and its commit
FINALIZE_TRIES = 20
#: the saga polls every 3 s; its budgets (``settings.triage``: ``SHOEBOX_TRIAGE_*``) are in polls (see the
#: ASL's comment)
POLL_S = 3
#: a commit holds at most 100 transaction items; each deletion is an event (2) plus up to three view
#: updates (the file, its decision claim, its content claim), and the session's counters once
DELETIONS_PER_COMMIT = 16


class InitTriage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    expected: Annotated[int, msgspec.Meta(ge=1, le=MAX_FILES)]
    model: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class TriageJob(msgspec.Struct, frozen=True):
    job_id: str
    session_id: str
    expected: int
    attempt: int


class Finalize(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    uploaded: Annotated[int, msgspec.Meta(ge=0, le=MAX_FILES)]
    #: names of the files the client could not upload
    failed: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=255)]], msgspec.Meta(max_length=MAX_FILES)
    ] = []


class Confirm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    delete_keys: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=600)]], msgspec.Meta(max_length=MAX_FILES)
    ]


class ConfirmResult(msgspec.Struct, frozen=True):
    deleted: list[str]
    errors: list[str]


class CleanupResult(msgspec.Struct, frozen=True):
    deleted_objects: int


class VerdictOut(msgspec.Struct, frozen=True):
    key: str
    name: str
    verdict: str
    reason: str
    confidence: float
    thumbnail_url: str | None


class TriageResults(msgspec.Struct, frozen=True):
    job_id: str
    status: str  # pending | processing | analyzing | complete | error
    attempt: int
    expected: int
    processed: int
    rejected: int
    duplicate: int
    #: per-file status while files are processing (and after); with ``after_version``, what changed since
    files: list[FileStatus]
    #: the verdicts once complete; null in a delta when the job did not change since ``after_version``
    keep: list[VerdictOut] | None
    discard: list[VerdictOut] | None
    gaps: list[str]
    error: str | None = None
    #: uploads in storage whose bytes are not decided yet
    pending: int = 0
    #: the session's version this answer is as of: send it as ``after_version`` (with the ETag) next time
    version: int = 0
    #: the ``after_version`` this answer is a delta from; null: everything (drop what you had)
    after_version: int | None = None
    #: in a delta, keys listed before that are gone (deleted before they were decided)
    removed: list[str] = []


class _StoredVerdicts(msgspec.Struct):
    verdicts: list[c.Verdict]


def _new_job_id() -> str:
    return "tri-" + uuid.uuid4().hex[:20]


async def _commit_in_chunks(log_: EventLog, events: list[Any]) -> None:
    """Deletions are many small events: a commit of DELETIONS_PER_COMMIT at a time stays well inside a
    transaction's item limit with its read-model updates."""
    for i in range(0, len(events), DELETIONS_PER_COMMIT):
        await log_.commit(events[i : i + DELETIONS_PER_COMMIT])


async def file_deletions(
    log_: EventLog, session_id: str, keys: list[str], reason: c.DeletionReason
) -> list[Event[Any]]:
    """A ``media.file.deleted`` for each of ``keys`` not deleted already (a second confirm or cleanup counts
    nothing again), naming the decided upload it deletes (its ETag, and its hash when it was processed) so
    that the upload's claims are released: its bytes uploaded again are decided again."""
    files = {f.key: f for f in await log_.query_views(session_pk(session_id), "FILE#", type=FileView)}
    events: list[Event[Any]] = []
    for k in keys:
        f = files.get(k)
        if f is not None and f.deleted:
            continue
        decided = f is not None and f.status is not None
        data = c.FileDeletedData(
            key=k,
            reason=reason,
            etag=f.etag if f is not None and decided else None,
            sha256=f.sha256 if f is not None and f.status == "processed" else None,
        )
        events.append(api_event(data, session_id))
    return events


async def start_triage_saga(
    sagas: SagaStarter,
    commands: CommandQueue,
    settings: Settings,
    session_id: str,
    job_id: str,
    attempt: int,
) -> str:
    """Start the job's saga, attempt ``attempt``, and return the execution's name: named from both, so a
    repeated start is the same execution. Raises ``SagaNotDeployed``."""
    budgets: TriageSettings = settings.triage
    polls = {
        "budget": {"left": math.ceil(budgets.upload_window_s / POLL_S), "finalized": False},
        "deadline_polls": math.ceil(budgets.deadline_s / POLL_S),
        "verdict_polls": {"left": math.ceil(budgets.verdict_wait_s / POLL_S)},
    }
    return await start_job_saga(
        sagas,
        commands,
        settings,
        TRIAGE_SAGA.name,
        session_id=session_id,
        job_id=job_id,
        attempt=attempt,
        budgets=polls,
    )


async def _start_saga(state: State, session_id: str, job_id: str, attempt: int) -> None:
    try:
        await start_triage_saga(
            saga_starter(state), command_queue(state), state.settings, session_id, job_id, attempt
        )
    except SagaNotDeployed:
        raise ClientException(status_code=503, detail="the triage saga is not deployed") from None


@post("/v1/sessions/{session_id:str}/triage", status_code=202)
async def init_triage(
    session_id: FromPath[str], data: JSONBody[InitTriage], state: State, caller: CallerDep
) -> TriageJob:
    """Start (or grow) the session's triage: how many files the client will upload. Call it on the first
    file drop and again when files are added; the saga starts now and waits for them."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    counters = await log_.counters(session_id)
    job_id = counters.job_id
    if job_id is not None:
        previous = counters.expected
        if data.expected != previous:
            await log_.commit(
                [
                    api_event(
                        c.TriageExpectedChangedData(job_id=job_id, expected=data.expected, previous=previous),
                        session_id,
                    )
                ]
            )
        attempt = (await job_of(log_, session_id, job_id, "triage")).attempt
    else:
        job_id, attempt = _new_job_id(), 1
        await log_.commit(
            [
                api_event(
                    c.TriageInitializedData(job_id=job_id, expected=data.expected, model=data.model),
                    session_id,
                )
            ]
        )
    await _start_saga(state, session_id, job_id, attempt)
    return TriageJob(job_id=job_id, session_id=session_id, expected=data.expected, attempt=attempt)


@post("/v1/sessions/{session_id:str}/triage/{job_id:str}/finalize", status_code=200)
async def finalize_triage(
    session_id: FromPath[str],
    job_id: FromPath[str],
    data: JSONBody[Finalize],
    state: State,
    caller: CallerDep,
) -> TriageJob:
    """The client is done uploading: the files it could not upload are no longer expected, and the
    overall deadline starts. Only names the session could still have are taken as failed (each a plain
    upload name, once, with no decision, and no more of them than the expected files not decided yet):
    any other list is a 400 naming the names refused, and nothing changes. Once only: a second finalize
    changes nothing."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    job = await job_of(log_, session_id, job_id, "triage")
    for _ in range(FINALIZE_TRIES):
        counters = await log_.counters(session_id)
        if counters.finalized:
            return TriageJob(
                job_id=job_id, session_id=session_id, expected=counters.expected, attempt=job.attempt
            )
        await check_failed_names(log_, session_id, counters, data.failed)
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=state.settings.triage.deadline_s)
        finalized = c.UploadFinalizedData(
            job_id=job_id, uploaded=data.uploaded, failed=list(data.failed), deadline=deadline
        )
        try:
            # as checked: no event landed since the counters were read (no decision of a name, no second
            # finalize, no new expected count), else check again
            await log_.commit(
                [api_event(finalized, session_id)],
                expect=[ViewExpectation(counters_key(session_id), counters.version)],
            )
        except ClaimTaken:
            continue
        expected = counters.expected - len(data.failed)
        return TriageJob(job_id=job_id, session_id=session_id, expected=expected, attempt=job.attempt)
    raise ClientException(status_code=503, detail="the session kept changing; finalize again")


async def check_failed_names(
    log_: EventLog, session_id: str, counters: CountersView, names: list[str]
) -> None:
    """400 unless every one of ``names`` is a file the session could still have: a plain upload name,
    listed once, not decided (a file decided, or deleted after its decision, did not fail), and no more of
    them than the expected files not decided yet, so ``expected`` minus them never falls below what is
    decided (nor below zero). The problem document's ``errors.refused`` lists the names refused."""
    seen = collections.Counter(names)
    refused = {n for n, times in seen.items() if times > 1 or not is_plain_name(n)}
    keys = [file_key(session_id, upload_key(session_id, n)) for n in sorted(set(seen) - refused)]
    files = await log_.get_views(keys, type=FileView)
    refused |= {f.key.rsplit("/", 1)[-1] for f in files if f.status is not None}
    if refused:
        _refuse(
            sorted(refused),
            "these are not uploads this session is waiting for (not plain upload names, listed twice, or "
            "decided already)",
        )
    undecided = max(0, counters.expected - (counters.processed + counters.rejected + counters.duplicate))
    if len(names) > undecided:
        _refuse(
            names,
            f"{len(names)} failed uploads named, but only {undecided} of the {counters.expected} expected "
            "files are not decided",
        )


def _refuse(names: list[str], why: str) -> NoReturn:
    shown = ", ".join(repr(n) for n in names[:20]) + (
        f" and {len(names) - 20} more" if len(names) > 20 else ""
    )
    raise ClientException(status_code=400, detail=f"{why}: {shown}", extra={"refused": names})


@get("/v1/sessions/{session_id:str}/triage/{job_id:str}")
async def triage_results(
    session_id: FromPath[str],
    job_id: FromPath[str],
    state: State,
    caller: CallerDep,
    request: Request[Any, Any, Any],
    after_version: AfterVersion = None,
) -> Response[TriageResults | None]:
    """Per-file progress while files are processing; keep and discard with reasons once triage is done.
    Poll with ``If-None-Match``: an unchanged answer is a 304; with ``after_version`` (the last answer's
    ``version``) a changed one lists only the files that changed since, and the verdicts only when the job
    changed."""
    await owned_meta(state, session_id, caller)
    counters = await event_log(state).counters(session_id)
    etag = session_etag(counters, f"triage-{job_id}")
    if not_modified(request, etag):
        return unchanged(etag)
    counters, results = await _results(state, session_id, job_id, counters=counters, after=after_version)
    return Response(results, headers=etag_headers(session_etag(counters, f"triage-{job_id}")))


async def _results(
    state: State,
    session_id: str,
    job_id: str,
    *,
    counters: CountersView | None = None,
    after: int | None = None,
) -> tuple[CountersView, TriageResults]:
    """The job's results, and the session's counters they agree with (``access.snapshot``: the files
    and the job read as of one version; ``changes.changes``: what changed after ``after``)."""
    job_at = job_key(session_id, job_id)
    log_ = event_log(state)
    if after is None:
        snap = await snapshot(log_, session_id, counters=counters, job=job_at)
    else:
        snap = await changes(log_, session_id, after, counters=counters, job=job_at)
    job, counters = snap.job, snap.counters
    if job is None or job.kind != "triage":
        raise NotFoundException(detail=f"no triage job {job_id!r} in this session")
    files, removed = listed(session_id, snap)
    keep: list[VerdictOut] | None = None
    discard: list[VerdictOut] | None = None
    if snap.job_changed:  # always, for the whole session
        keep, discard = await _verdicts_out(state, session_id, job, snap)
    status = job.status or "pending"
    if status == "pending" and counters.finalized:
        # the client finalized, files are still being decided: derived here, never stored (a finalize
        # after the verdicts must not take the job back; see projections.py)
        status = "processing"
    return counters, TriageResults(
        job_id=job_id,
        status=status,
        attempt=job.attempt,
        expected=counters.expected,
        processed=counters.processed,
        rejected=counters.rejected,
        duplicate=counters.duplicate,
        files=files,
        keep=keep,
        discard=discard,
        gaps=job.gaps,
        error=job.message if job.status == "error" and job.message else None,
        pending=snap.counters.pending,
        version=counters.version,
        after_version=snap.after,
        removed=removed,
    )


async def _verdicts_out(
    state: State, session_id: str, job: JobView, snap: Snapshot
) -> tuple[list[VerdictOut], list[VerdictOut]]:
    """A complete job's keep and discard lists (empty before), each with its file's thumbnail URL (from
    the snapshot's files when it holds them all, else read once: a delta sends verdicts only when the job
    changed)."""
    keep: list[VerdictOut] = []
    discard: list[VerdictOut] = []
    verdicts = await _verdicts(state, job)
    items = snap.files
    if verdicts and snap.after is not None:
        items = await event_log(state).query_views(session_pk(session_id), "FILE#", type=FileView)
    thumbnails = {f.key: f.thumbnail_url for f in file_statuses(session_id, items)}
    for v in verdicts:
        out = VerdictOut(
            key=v.key,
            name=v.key.rsplit("/", 1)[-1],
            verdict=v.verdict,
            reason=v.reason,
            confidence=v.confidence,
            thumbnail_url=thumbnails.get(v.key),
        )
        (keep if v.verdict == "keep" else discard).append(out)
    return keep, discard


async def _verdicts(state: State, job: JobView) -> list[c.Verdict]:
    """A complete job's verdicts (the results document selection wrote); none before."""
    if job.status != "complete" or job.results_key is None:
        return []
    return msgspec.json.decode(await object_store(state).get(job.results_key), type=_StoredVerdicts).verdicts


@post("/v1/sessions/{session_id:str}/triage/{job_id:str}/retry", status_code=202)
async def retry_triage(
    session_id: FromPath[str], job_id: FromPath[str], state: State, caller: CallerDep
) -> TriageJob:
    """Run a failed or timed-out triage again, without re-uploading: a new attempt, a new execution."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    job = await job_of(log_, session_id, job_id, "triage")
    if job.status != "error":
        raise ClientException(
            status_code=409,
            detail=f"triage {job_id} is {job.status!r}; only a failed or timed-out triage can be retried",
        )
    attempt = job.attempt + 1
    await _start_saga(state, session_id, job_id, attempt)
    counters = await log_.counters(session_id)
    return TriageJob(job_id=job_id, session_id=session_id, expected=counters.expected, attempt=attempt)


@post("/v1/sessions/{session_id:str}/triage/{job_id:str}/confirm", status_code=200)
async def confirm_triage(
    session_id: FromPath[str], job_id: FromPath[str], data: JSONBody[Confirm], state: State, caller: CallerDep
) -> ConfirmResult:
    """Delete the chosen originals: each must be one of this triage's discards."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    job = await job_of(log_, session_id, job_id, "triage")
    if job.status != "complete":
        raise ClientException(status_code=409, detail=f"triage {job_id} is not complete")
    discards = {v.key for v in await _verdicts(state, job) if v.verdict == "discard"}
    chosen = list(dict.fromkeys(data.delete_keys))
    errors = [f"{k}: not one of this triage's discards" for k in chosen if k not in discards]
    wanted = [k for k in chosen if k in discards]
    for k in wanted:
        await object_store(state).delete(k)
    events = [api_event(c.TriageConfirmedData(job_id=job_id, delete_keys=wanted), session_id)]
    events += await file_deletions(log_, session_id, wanted, "confirmed")
    await _commit_in_chunks(log_, events)
    return ConfirmResult(deleted=wanted, errors=errors)


@delete("/v1/sessions/{session_id:str}/artifacts", status_code=200)
async def cleanup_session(
    session_id: FromPath[str], state: State, caller: CallerDep
) -> Response[CleanupResult]:
    """Delete every object of the session (originals, thumbnails, conversions, previews, results), paged
    over every key. Originals deleted here are recorded as ``media.file.deleted`` (cleanup)."""
    await owned_meta(state, session_id, caller)
    store = object_store(state)
    deleted = 0
    originals: list[str] = []
    for prefix in ALL_PREFIXES:
        keys = [o.key async for o in store.list(f"{prefix}/{session_id}/")]
        await store.delete_many(keys)
        deleted += len(keys)
        if prefix == UPLOADS:
            originals += keys
    log_ = event_log(state)
    await _commit_in_chunks(log_, await file_deletions(log_, session_id, originals, "cleanup"))
    return Response(CleanupResult(deleted_objects=deleted))


ROUTES = [init_triage, finalize_triage, triage_results, retry_triage, confirm_triage, cleanup_session]
