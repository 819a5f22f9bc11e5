"""Who may see what: the caller dependency and the session ownership check every session route uses."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import Parameter, SkipValidation

from services.api.auth import Caller
from shared.events.codec import make_event
from shared.events.envelope import Event, Payload
from shared.runtime import telemetry
from shared.runtime.config import Settings
from shared.runtime.inbound import is_session_id
from shared.runtime.log import EventLog
from shared.runtime.projections import job_key, meta_key, session_pk
from shared.runtime.read_models import CountersView, FileView, JobKind, JobView, MetaView, PendingView
from shared.runtime.sagas import CommandQueue, SagaStarter
from shared.runtime.storage import ObjectStore
from shared.runtime.views import ViewKey

#: the ``source`` of the events the API appends
SOURCE = "shoebox/api"
#: a route handler's ``opt`` key: the route answers without a token
PUBLIC = "public"
#: a handler's ``caller: CallerDep``: who the guard let in (a dependency, never a request parameter)
CallerDep = NamedDependency[SkipValidation[Caller]]


def api_event(payload: Payload, session_id: str) -> Event[Any]:
    """An event the API appends to ``session_id``'s stream: its source, and the request's trace (the
    server span's), so what a request starts carries the request's trace onwards."""
    return make_event(
        payload, source=SOURCE, session_id=session_id, traceparent=telemetry.current_traceparent()
    )


async def start_job_saga(
    sagas: SagaStarter,
    commands: CommandQueue,
    settings: Settings,
    saga: str,
    *,
    session_id: str,
    job_id: str,
    attempt: int,
    budgets: dict[str, Any],
) -> str:
    """Start a job's saga (``saga``: its state machine's name), attempt ``attempt``, with the input every
    saga of ours takes (the job, the attempt also as text for the saga's string comparisons, the views
    table it polls, the api queue its commands go to) plus its poll ``budgets``; returns the execution's
    name. Named from the job and the attempt: a repeated start is the same execution, a retry a new one.
    Raises ``SagaNotDeployed``."""
    payload = {
        "session_id": session_id,
        "job_id": job_id,
        "attempt": attempt,
        "attempt_text": str(attempt),
        **budgets,
        "views_table": settings.names.views_table,
        "api_queue_url": await commands.url(),
    }
    execution = f"{job_id}-a{attempt}"
    await sagas.start(saga, execution, payload)
    return execution


def event_log(state: State) -> EventLog:
    log: EventLog = state.log
    return log


def object_store(state: State) -> ObjectStore:
    store: ObjectStore = state.store
    return store


def saga_starter(state: State) -> SagaStarter:
    sagas: SagaStarter = state.sagas
    return sagas


def command_queue(state: State) -> CommandQueue:
    commands: CommandQueue = state.commands
    return commands


def _check_session_id(session_id: str) -> None:
    if not is_session_id(session_id):
        raise NotFoundException(detail=f"no session {session_id!r}")


async def owned_meta(state: State, session_id: str, caller: Caller) -> MetaView:
    """The session's META view, or 404 when it does not exist or is another caller's (never 403)."""
    _check_session_id(session_id)
    meta = await event_log(state).get_view(meta_key(session_id), type=MetaView)
    if meta is None or meta.owner != caller.sub:
        raise NotFoundException(detail=f"no session {session_id!r}")
    return meta


async def job_of(log: EventLog, session_id: str, job_id: str, kind: JobKind) -> JobView:
    """The session's job ``job_id`` of this kind, or 404 (a job of another kind is not found either)."""
    job = await log.get_view(job_key(session_id, job_id), type=JobView)
    if job is None or job.kind != kind:
        raise NotFoundException(detail=f"no {kind} job {job_id!r} in this session")
    return job


#: a route's ``?after_version=N``: only what changed after version N (a delta poll)
AfterVersion = Annotated[
    int | None,
    Parameter(
        ge=0,
        description="Only the files that changed after this version (the `version` of an earlier answer): "
        "a delta costs what changed, not the whole session",
    ),
]

#: reads of a session's read models retried when an event landed in between (see ``snapshot``)
SNAPSHOT_TRIES = 3


class Snapshot(msgspec.Struct, frozen=True):
    """A session's files (and a job) as of one ``counters.version``: every one (``after`` None), or those
    whose items an event after version ``after`` wrote (``touched``: their upload keys; the job is in it
    when ``job_changed``)."""

    counters: CountersView
    files: list[FileView]
    #: the uploads whose bytes are not decided yet (of ``touched`` only, in a delta)
    pending: list[PendingView]
    job: JobView | None = None
    after: int | None = None
    touched: frozenset[str] = frozenset()
    job_changed: bool = True


async def snapshot(
    log: EventLog,
    session_id: str,
    *,
    counters: CountersView | None = None,
    job: ViewKey | None = None,
) -> Snapshot:
    """The session's ``FILE#`` and ``PENDING#`` items (and the ``job`` item, when asked) as of one
    ``version``. A Query is not isolated from a commit that lands while it reads (DynamoDB's reads are
    read-committed per item; the emulator is the same), so the counters could disagree with the files. The
    counters are read again after the Query: if an event moved ``version`` on meanwhile, the Query is made
    again (up to ``SNAPSHOT_TRIES`` reads; under constant change the last one is returned, with the counters
    read before it). ``counters``: the session's COUNTERS when the caller has just read them. Returns the
    counters the items agree with."""
    before = counters if counters is not None else await log.counters(session_id)
    for attempt in range(1, SNAPSHOT_TRIES + 1):
        files = await log.query_views(session_pk(session_id), "FILE#", type=FileView)
        pending = await log.query_views(session_pk(session_id), "PENDING#", type=PendingView)
        found = await log.get_view(job, type=JobView) if job is not None else None
        after = await log.counters(session_id)
        if after.version == before.version or attempt == SNAPSHOT_TRIES:
            # the items are at least as new as ``before`` (read after it): its version is the safe one to
            # answer with, never a newer one they might not show yet
            return Snapshot(counters=before, files=files, pending=pending, job=found)
        before = after
    raise AssertionError("unreachable")


def session_etag(counters: CountersView, what: str) -> str:
    """The ETag of anything derived from a session's read models: every event moves ``version`` on."""
    return f'"{what}-v{counters.version}"'


def not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return wanted.strip() == "*" or etag in [t.strip() for t in wanted.split(",")]


def etag_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": "private, no-cache"}


def unchanged(etag: str) -> Response[Any]:
    return Response(None, status_code=304, headers=etag_headers(etag))
