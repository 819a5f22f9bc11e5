"""Who may see what: the caller dependency and the session ownership check every session route uses."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import SkipValidation

from services.api.auth import Caller
from shared.events.codec import make_event
from shared.events.envelope import Event, Payload
from shared.runtime import telemetry
from shared.runtime.log import EventLog
from shared.runtime.projections import counters_key, meta_key, session_pk
from shared.runtime.sagas import CommandQueue, SagaStarter
from shared.runtime.storage import ObjectStore
from shared.runtime.views import ViewKey

#: the ``source`` of the events the API appends
SOURCE = "shoebox/api"
#: a route handler's ``opt`` key: the route answers without a token
PUBLIC = "public"
#: a handler's ``caller: CallerDep``: who the guard let in (a dependency, never a request parameter)
CallerDep = NamedDependency[SkipValidation[Caller]]
_SESSION = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def api_event(payload: Payload, session_id: str) -> Event[Any]:
    """An event the API appends to ``session_id``'s stream: its source, and the request's trace (the
    server span's), so what a request starts carries the request's trace onwards."""
    return make_event(
        payload, source=SOURCE, session_id=session_id, traceparent=telemetry.current_traceparent()
    )


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
    if not _SESSION.match(session_id):
        raise NotFoundException(detail=f"no session {session_id!r}")


async def owned_meta(state: State, session_id: str, caller: Caller) -> dict[str, Any]:
    """The session's META view, or 404 when it does not exist or is another caller's (never 403)."""
    _check_session_id(session_id)
    meta = await event_log(state).get_view(meta_key(session_id))
    if meta is None or meta.get("owner") != caller.sub:
        raise NotFoundException(detail=f"no session {session_id!r}")
    return meta


#: reads of a session's read models retried when an event landed in between (see ``snapshot``)
SNAPSHOT_TRIES = 3


async def snapshot(
    log: EventLog,
    session_id: str,
    sk_prefix: str = "",
    *,
    counters: dict[str, Any] | None = None,
    also: Sequence[ViewKey] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The session's read-model items (those under ``sk_prefix``; always with its ``COUNTERS``) as of one
    ``version``. A Query is not isolated from a commit that lands while it reads (DynamoDB's reads are
    read-committed per item; the emulator is the same), so the counters could disagree with the files.
    The counters are read again after the Query: if an event moved ``version`` on meanwhile, the Query is
    made again (up to ``SNAPSHOT_TRIES`` reads; under constant change the last one is returned).
    ``counters``: the session's COUNTERS item when the caller has just read it; ``also``: single items
    to read with the others (a job). Returns the counters the items agree with ({} for none yet) and the
    items (COUNTERS not among them; those of ``also`` that exist after them)."""
    key = counters_key(session_id)
    before = counters if counters is not None else (await log.get_view(key) or {})
    items: list[dict[str, Any]] = []
    for _ in range(SNAPSHOT_TRIES):
        items = [i for i in await log.query_views(session_pk(session_id), sk_prefix) if i["sk"] != key.sk]
        for k in also:
            if (item := await log.get_view(k)) is not None:
                items.append(item)
        after = await log.get_view(key) or {}
        if after.get("version") == before.get("version"):
            break
        before = after
    return before, items


def session_etag(counters: Mapping[str, Any] | None, what: str) -> str:
    """The ETag of anything derived from a session's read models: every event moves ``version`` on."""
    version = counters.get("version") if counters else None
    return f'"{what}-v{version if isinstance(version, int) else 0}"'


def not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return wanted.strip() == "*" or etag in [t.strip() for t in wanted.split(",")]


def etag_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": "private, no-cache"}


def unchanged(etag: str) -> Response[Any]:
    return Response(None, status_code=304, headers=etag_headers(etag))
