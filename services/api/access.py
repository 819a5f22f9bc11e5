"""Who may see what: the caller dependency and the session ownership check every session route uses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import SkipValidation

from services.api.auth import Caller
from shared.events.log import EventLog
from shared.events.projections import meta_key

#: a route handler's ``opt`` key: the route answers without a token
PUBLIC = "public"
#: a handler's ``caller: CallerDep``: who the guard let in (a dependency, never a request parameter)
CallerDep = NamedDependency[SkipValidation[Caller]]
_SESSION = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _log(state: State) -> EventLog:
    log: EventLog = state.log
    return log


def _check_session_id(session_id: str) -> None:
    if not _SESSION.match(session_id):
        raise NotFoundException(detail=f"no session {session_id!r}")


async def _owned_meta(state: State, session_id: str, caller: Caller) -> dict[str, Any]:
    """The session's META view, or 404 when it does not exist or is another caller's (never 403)."""
    _check_session_id(session_id)
    meta = await _log(state).get_view(meta_key(session_id))
    if meta is None or meta.get("owner") != caller.sub:
        raise NotFoundException(detail=f"no session {session_id!r}")
    return meta


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
