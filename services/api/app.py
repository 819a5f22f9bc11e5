"""The HTTP API: sessions, presigned uploads, and the session's status as a projection of its log.

Litestar with msgspec models; OpenAPI 3.1 at ``/schema`` (the JSON document; no docs page: see
``create_app``); every error is an RFC 9457 problem document. What every request must look like (its
``Host``, a JSON body's type) and what every answer carries (``nosniff``) is ``services.api.edges``.
Status reads are one Query on the views table (the read models the log maintains in its transactions).

Every route needs a bearer token (``services.api.auth``) except ``/health``, ``/.well-known/jwks.json`` (the
embedded stack's issuer keys) and the OpenAPI documents: an app-wide guard refuses the others with 401 unless
the handler is marked ``opt={PUBLIC: True}``, so a new route is protected by default. The caller (the token's
``sub``) owns the sessions it creates; another caller's session answers 404 on every route, never 403.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Annotated, Any

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ServiceUnavailableException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, JSONBody, Parameter
from litestar.types import ASGIApp, Guard, Receive, Scope, Send
from opentelemetry.trace import SpanKind

from services.api import archive, edges, enhancement, item_media, page, selection, stream, triage, uploads
from services.api.access import (
    PUBLIC,
    AfterVersion,
    CallerDep,
    api_event,
    etag_headers,
    event_log,
    not_modified,
    object_store,
    owned_meta,
    session_etag,
    snapshot,
    unchanged,
)
from services.api.auth import JWKS_PATH, Caller, InvalidToken, KeysUnavailable, LocalIssuer, TokenVerifier
from services.api.changes import changes
from services.api.files import FileStatus, listed
from services.api.uploads import validate_upload
from services.api.wiring import Collaborators, Opener, per_lifespan
from shared.events import catalogue as c
from shared.runtime import telemetry
from shared.runtime.config import Settings
from shared.runtime.inbound import MAX_NAME, upload_key
from shared.runtime.projections import file_key
from shared.runtime.read_models import FileView
from shared.runtime.storage import ObjectNotFound

log = logging.getLogger("shoebox.api")
BEARER = "BearerToken"  # the OpenAPI security scheme
MAX_CONTEXT = 2000
UPLOAD_URL_TTL_S = 900


class CreateSession(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    context: Annotated[str, msgspec.Meta(max_length=MAX_CONTEXT)]
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class SessionCreated(msgspec.Struct, frozen=True):
    session_id: str


class UploadRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
    content_type: Annotated[str, msgspec.Meta(max_length=100)]
    size: Annotated[int, msgspec.Meta(ge=0)]


class UploadTicket(msgspec.Struct, frozen=True):
    key: str
    url: str
    method: str
    headers: dict[str, str]
    expires_in_s: int


class Counters(msgspec.Struct, frozen=True):
    expected: int = 0
    processed: int = 0
    rejected: int = 0
    duplicate: int = 0
    deleted: int = 0
    #: uploads in storage whose bytes are not decided yet (the files listed as ``pending``)
    pending: int = 0


class SessionStatus(msgspec.Struct, frozen=True):
    session_id: str
    context: str
    created_at: str
    counters: Counters
    #: every file, or with ``after_version`` only those that changed after it
    files: list[FileStatus]
    #: the session's version this answer is as of: send it as ``after_version`` (with the ETag) next time
    version: int = 0
    #: the ``after_version`` this answer is a delta from; null: the whole session (drop what you had)
    after_version: int | None = None
    #: in a delta, keys listed before that are gone (deleted before they were decided)
    removed: list[str] = []


class EventPage(msgspec.Struct, frozen=True):
    events: list[dict[str, Any]]
    next_after: int | None


# --------------------------------------------------------------------------- auth
def _unauthorized(exc: InvalidToken) -> NotAuthorizedException:
    """401 with RFC 6750's challenge: no error code when no credentials were sent, else invalid_token."""
    challenge = 'Bearer realm="shoebox"'
    if not exc.missing:
        challenge += f', error="invalid_token", error_description="{exc.reason}"'
    return NotAuthorizedException(detail=exc.reason, headers={"WWW-Authenticate": challenge})


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization")
    if header is None:
        raise InvalidToken("this route needs a bearer token (Authorization: Bearer <JWT>)", missing=True)
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()


def bearer_guard(verifier: TokenVerifier) -> Guard:
    """The app-wide guard: verifies the bearer token of every non-public route and puts the ``Caller`` in
    the scope's ``user`` for the ``caller`` dependency."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get(PUBLIC) or connection.scope.get("method") == "OPTIONS":
            return  # OPTIONS: the automatic answer (the allowed methods); CORS preflights carry no token
        try:
            token = _bearer(connection)
            if verifier.keys.may_block:  # a JWKS fetch (cached, but sometimes on the network)
                caller = await anyio.to_thread.run_sync(verifier.verify, token)
            else:
                caller = verifier.verify(token)
        except InvalidToken as exc:
            raise _unauthorized(exc) from None
        except KeysUnavailable as exc:
            log.error("cannot verify tokens: %s", exc)
            raise ServiceUnavailableException(detail="cannot verify tokens right now; try again") from None
        connection.scope["user"] = caller

    return guard


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The ``caller`` dependency: who the guard let in."""
    caller = request.scope.get("user")
    if not isinstance(caller, Caller):  # a public route asked for a caller: refuse, never guess
        raise _unauthorized(InvalidToken("this route needs a bearer token", missing=True))
    return caller


# --------------------------------------------------------------------------- routes
@get("/health", sync_to_thread=False, opt={PUBLIC: True})
def health() -> dict[str, str]:
    return {"status": "ok", "service": "shoebox-api"}


@post("/v1/sessions", status_code=201)
async def create_session(data: JSONBody[CreateSession], state: State, caller: CallerDep) -> SessionCreated:
    session_id = str(uuid.uuid4())
    event = api_event(
        c.SessionCreatedV2Data(owner=caller.sub, trip=c.Trip(context=data.context, timezone=data.timezone)),
        session_id,
    )
    await event_log(state).commit([event])
    return SessionCreated(session_id=session_id)


@post("/v1/sessions/{session_id:str}/uploads", status_code=201)
async def create_upload(
    session_id: FromPath[str], data: JSONBody[UploadRequest], state: State, caller: CallerDep
) -> UploadTicket:
    await owned_meta(state, session_id, caller)
    name = validate_upload(data.name, data.content_type, data.size, state.settings)  # multipart's too
    key = upload_key(session_id, name)
    # the declared size is signed into the URL: storage refuses a body of another length
    url = await object_store(state).presign_put(key, data.content_type, UPLOAD_URL_TTL_S, size=data.size)
    return UploadTicket(
        key=key,
        url=url,
        method="PUT",
        headers={"Content-Type": data.content_type},
        expires_in_s=UPLOAD_URL_TTL_S,
    )


@get("/v1/sessions/{session_id:str}")
async def session_status(
    session_id: FromPath[str],
    state: State,
    caller: CallerDep,
    request: Request[Any, Any, Any],
    after_version: AfterVersion = None,
) -> Response[SessionStatus | None]:
    """The session's counters and per-file status: every file is ``pending`` from the moment its upload is
    in storage until media_process decides it. Poll with ``If-None-Match``: an unchanged session is a 304
    after one GetItem (its ``version``), however many files it has; with ``after_version`` (the last
    answer's ``version``) a changed one lists only the files that changed since."""
    meta = await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    counters = await log_.counters(session_id)
    etag = session_etag(counters, "status")
    if not_modified(request, etag):
        return unchanged(etag)
    if after_version is None:
        snap = await snapshot(log_, session_id, counters=counters)
    else:
        snap = await changes(log_, session_id, after_version, counters=counters)
    counts = snap.counters
    files, removed = listed(session_id, snap)
    status = SessionStatus(
        session_id=session_id,
        context=meta.context,
        created_at=meta.created_at,
        counters=Counters(
            expected=counts.expected,
            processed=counts.processed,
            rejected=counts.rejected,
            duplicate=counts.duplicate,
            deleted=counts.deleted,
            pending=snap.counters.pending,
        ),
        files=files,
        version=counts.version,
        after_version=snap.after,
        removed=removed,
    )
    return Response(status, headers=etag_headers(session_etag(counts, "status")))


@get("/v1/sessions/{session_id:str}/files/{name:str}/thumbnail", media_type="image/jpeg")
async def file_thumbnail(
    session_id: FromPath[str], name: FromPath[str], state: State, caller: CallerDep
) -> Response[bytes]:
    """The file's 400 px thumbnail (JPEG), once media_process has made it."""
    await owned_meta(state, session_id, caller)
    key = file_key(session_id, upload_key(session_id, name))
    item = await event_log(state).get_view(key, type=FileView)
    thumbnail = item.thumbnail if item is not None and not item.deleted else None
    if thumbnail is None:
        raise NotFoundException(detail=f"no thumbnail for {name!r} (not made yet, or the file was deleted)")
    try:
        data = await object_store(state).get(thumbnail)
    except ObjectNotFound:  # removed by a cleanup the read model has not shown yet
        raise NotFoundException(detail=f"no thumbnail for {name!r}") from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@get("/v1/sessions/{session_id:str}/events")
async def session_events(
    session_id: FromPath[str],
    state: State,
    caller: CallerDep,
    after: Annotated[int, Parameter(ge=0)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> EventPage:
    await owned_meta(state, session_id, caller)
    page = await event_log(state).read(session_id, after=after, limit=limit)
    return EventPage(events=[msgspec.to_builtins(e) for e in page.events], next_after=page.next_after)


def _problem(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """RFC 9457: ``title`` is the status's phrase, ``detail`` what was wrong with this request."""
    status = exc.status_code
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": exc.detail,
        "instance": request.url.path,
    }
    if exc.extra:
        body["errors"] = exc.extra
    return Response(body, status_code=status, media_type="application/problem+json", headers=exc.headers)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "Something went wrong on our side; it has been logged.",
            "instance": request.url.path,
        },
        status_code=500,
        media_type="application/problem+json",
    )


def tracing_middleware(app: ASGIApp) -> ASGIApp:
    """One server span per request, continuing the caller's ``traceparent`` header when it sends one, so
    the events a request appends carry the request's trace onwards."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        with (
            telemetry.continue_trace(headers.get("traceparent")),
            telemetry.tracer().start_as_current_span(
                f"{scope.get('method', '')} {scope.get('path', '')}", kind=SpanKind.SERVER
            ),
        ):
            await app(scope, receive, send)

    return middleware


def jwks_route(issuer: LocalIssuer) -> HTTPRouteHandler:
    """``GET /.well-known/jwks.json``: the embedded stack's issuer keys (public); Cognito serves its own."""
    document = issuer.jwks()

    @get(JWKS_PATH, sync_to_thread=False, opt={PUBLIC: True}, tags=["auth"])
    def jwks() -> Response[dict[str, Any]]:
        """The keys that sign the embedded stack's tokens (``shoebox dev-token``), as a JWK Set."""
        return Response(document, headers={"Cache-Control": "public, max-age=300"})

    return jwks


def _state(settings: Settings, given: Collaborators) -> dict[str, Any]:
    """What the routes find in ``State`` (read through ``services.api.access``)."""
    return {
        "settings": settings,
        "log": given.log,
        "store": given.store,
        "sagas": given.sagas,
        "commands": given.commands,
    }


def create_app(
    settings: Settings,
    *,
    collaborators: Collaborators | Opener | None = None,
    issuer: LocalIssuer | None = None,
    verifier: TokenVerifier | None = None,
) -> Litestar:
    """The ASGI app, working with ``collaborators`` (``services.api.wiring``): given ones (the embedded
    stack's, on its AWS clients; tests' in memory) are the app's from the start; an ``Opener`` opens them
    around each lifespan (``wiring.once_per_process`` on Lambda); without, it opens AWS clients for its
    lifetime (``wiring.per_lifespan``: uvicorn on its own).

    Tokens are verified by ``verifier``; else, with ``issuer`` (the embedded stack's), against that issuer's
    keys in memory, and its JWKS is served; else against the JWKS ``settings.auth`` names
    (``TokenVerifier.configured``: Cognito on AWS)."""
    if verifier is None:
        verifier = issuer.verifier() if issuer is not None else TokenVerifier.configured(settings.auth)
    opener = per_lifespan(settings) if collaborators is None else collaborators
    lifespans = []
    if not isinstance(opener, Collaborators):
        open_them = opener

        @contextlib.asynccontextmanager
        async def lifespan(app: Litestar) -> AsyncIterator[None]:
            async with open_them() as given:
                for name, value in _state(settings, given).items():
                    app.state[name] = value
                yield

        lifespans.append(lifespan)

    # Documented as needing the bearer token; the guard enforces it on every route that is not PUBLIC.
    protected = Router(
        "/",
        route_handlers=[
            create_session,
            create_upload,
            session_status,
            file_thumbnail,
            session_events,
            *triage.ROUTES,
            *selection.ROUTES,
            *enhancement.ROUTES,
            *archive.ROUTES,
            *item_media.ROUTES,
            *uploads.ROUTES,
            *stream.ROUTES,
        ],
        security=[{BEARER: []}],
    )
    public: list[HTTPRouteHandler] = [
        health,
        *([jwks_route(issuer)] if issuer is not None else []),
        *page.routes(settings, issuer),
    ]
    return Litestar(
        route_handlers=[*public, protected],
        guards=[bearer_guard(verifier)],
        dependencies={"caller": Provide(provide_caller, sync_to_thread=False)},
        state=State(_state(settings, opener) if isinstance(opener, Collaborators) else {}),
        lifespan=lifespans,
        middleware=[tracing_middleware],
        # the edges (services.api.edges): configured hosts only, JSON bodies declared as JSON, nosniff
        allowed_hosts=edges.allowed_hosts(settings.api),
        request_class=edges.JsonRequest,
        before_send=[edges.nosniff],
        exception_handlers={HTTPException: _problem, Exception: _internal_error},
        logging_config=None,  # the process's logging (JSON with trace ids) is set up by telemetry
        openapi_config=OpenAPIConfig(
            title="Shoebox API",
            version="0.1.0",
            openapi_router=Router("/schema", route_handlers=[], include_in_schema=False, opt={PUBLIC: True}),
            # the document only, at /schema and /schema/openapi.json: every HTML renderer Litestar has loads
            # its script from a CDN (unpinned), and this origin is the upload page's, which holds the token
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="An RS256 JWT: a Cognito ID or access token on AWS; on the embedded "
                        "stack one from `shoebox dev-token` (issuer `shoebox-local`, audience `shoebox`).",
                    )
                }
            ),
        ),
        response_headers=None,
        debug=False,
    )
