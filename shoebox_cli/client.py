"""A small typed client of the public Shoebox HTTP API, as any other team's client would use it.

Errors (all ``ApiError``):

- ``ApiUnreachable``: no connection to the API (nothing listening, DNS, timeouts after retries).
- ``SessionNotFound``: the API answered 404 for the session.
- ``UploadRefused``: the API refused an upload request (400/413); ``message`` is the problem's text.
- ``ApiError`` itself: any other answer the client did not expect, with its status and problem text.

Transient failures (connection errors, 5xx, 429) are retried with backoff before they become errors: a few
times before the API has answered once (a wrong URL fails fast), and for up to ``outage_s`` after (an API
that a supervisor is restarting after a crash, as the embedded stack's does, is back within seconds).
The presigned PUT goes straight to the object store; it never carries the API's Authorization header.
"""

from __future__ import annotations

import http
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx
import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from shared.events.selection_results import ExclusionCategory, SceneGroup

CHUNK = 1024 * 1024
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class ApiError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ApiUnreachable(ApiError):
    pass


class SessionNotFound(ApiError):
    pass


class UploadRefused(ApiError):
    pass


class _Transient(Exception):
    """A 5xx/429 answer: worth another try."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.status_code} from {response.request.url}")
        self.response = response


class Ticket(msgspec.Struct, frozen=True):
    key: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = {}
    expires_in_s: int = 0


class Counters(msgspec.Struct, frozen=True):
    expected: int = 0
    processed: int = 0
    rejected: int = 0
    duplicate: int = 0
    deleted: int = 0
    #: uploads in storage not decided yet
    pending: int = 0


class FileStatus(msgspec.Struct, frozen=True):
    key: str
    name: str = ""
    #: pending (uploaded, not decided yet), processed, rejected or duplicate
    status: str = ""
    kind: str | None = None
    media_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    code: str | None = None
    message: str | None = None
    duplicate_of: str | None = None
    thumbnail: str | None = None  # the thumbnail's object key
    #: where to GET the thumbnail, once the API serves one (the report downloads it when present)
    thumbnail_url: str | None = None
    captured_at: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


FINAL_STATUSES = ("processed", "rejected", "duplicate")


class SessionStatus(msgspec.Struct, frozen=True):
    session_id: str
    context: str = ""
    created_at: str = ""
    counters: Counters = Counters()
    #: every file, or in a delta (``after_version`` set) only those that changed
    files: list[FileStatus] = []
    #: what to send as ``after_version`` next time
    version: int = 0
    after_version: int | None = None
    #: in a delta: keys no longer listed
    removed: list[str] = []


class SessionFiles:
    """A session's files as a poller holds them: every answer merged in, whole or delta. ``after`` is the
    ``after_version`` to poll with next (None: ask for the whole session), ``etag`` its ETag."""

    def __init__(self) -> None:
        self.files: dict[str, FileStatus] = {}
        self.after: int | None = None
        self.etag: str | None = None

    def merge(self, status: SessionStatus, etag: str | None) -> list[FileStatus]:
        """Take one answer in; returns the files it changed."""
        if status.after_version is None:  # the whole session: what was held goes
            self.files = {}
        changed = [f for f in status.files if self.files.get(f.key) != f]
        self.files.update({f.key: f for f in status.files})
        for key in status.removed:
            self.files.pop(key, None)
        self.after, self.etag = status.version, etag
        return changed

    async def poll(self, client: ApiClient, session_id: str) -> list[FileStatus]:
        """One poll (a 304 when nothing changed; a delta after the first); returns the files it changed."""
        status, etag = await client.session(session_id, etag=self.etag, after_version=self.after)
        return [] if status is None else self.merge(status, etag)


class LogEvent(msgspec.Struct, frozen=True):
    """One event of a session's log as the API shows it (the envelope; ``data`` as sent)."""

    type: str
    id: str = ""
    source: str = ""
    subject: str | None = None
    time: str = ""
    sequence: int = 0
    data: dict[str, Any] = {}


class EventPage(msgspec.Struct, frozen=True):
    events: list[LogEvent]
    next_after: int | None = None


class TriageJob(msgspec.Struct, frozen=True):
    """``POST /v1/sessions/{id}/triage`` and ``…/finalize``: the session's triage job."""

    job_id: str
    expected: int = 0
    attempt: int = 1


class Verdict(msgspec.Struct, frozen=True):
    key: str
    name: str
    verdict: str  # keep | discard
    reason: str
    confidence: float
    thumbnail_url: str | None = None


class TriageResults(msgspec.Struct, frozen=True):
    """``GET /v1/sessions/{id}/triage/{job}`` (the fields the CLI reads; the rest are ignored)."""

    job_id: str
    status: str  # pending | processing | analyzing | complete | error
    expected: int = 0
    processed: int = 0
    rejected: int = 0
    duplicate: int = 0
    #: the verdicts once complete; null in a delta when the job did not change
    keep: list[Verdict] | None = None
    discard: list[Verdict] | None = None
    error: str | None = None

    @property
    def decided(self) -> int:
        return self.processed + self.rejected + self.duplicate


class SelectionJob(msgspec.Struct, frozen=True):
    """``POST /v1/sessions/{id}/selections``: the selection job started (each POST is a new job)."""

    job_id: str
    attempt: int = 1


class SelectionPick(msgspec.Struct, frozen=True, kw_only=True):
    """One pick of ``GET …/selections/{job}``, in rank order (1 = best)."""

    key: str
    name: str
    rank: int
    scene: str | None = None  # the scene's id ("s1"); its label is in ``scene_groups``
    reason: str
    comparison: str | None = None
    duplicate_of: str | None = None  # a key
    by_person: bool = False


class SelectionExclusion(msgspec.Struct, frozen=True, kw_only=True):
    """A processed file that is not a pick, with why (``category``: ``ExclusionCategory``)."""

    key: str
    name: str
    category: ExclusionCategory
    reason: str
    duplicate_of: str | None = None  # a key: the item preferred
    by_person: bool = False
    scene: str | None = None


class SelectionState(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/sessions/{id}/selections/{job}`` (the fields the CLI reads; the rest are ignored).
    ``selected``, ``excluded`` and ``scene_groups`` are filled once ``status`` is ``complete``; ``code`` and
    ``error`` say why when it is ``error``."""

    job_id: str
    status: str  # pending | analyzing | complete | error
    count: int | str = "all"
    provider: str | None = None
    selected: list[SelectionPick] = []
    excluded: list[SelectionExclusion] = []
    scene_groups: list[SceneGroup] = []
    code: str | None = None
    error: str | None = None


class EnhancementJob(msgspec.Struct, frozen=True):
    """``POST /v1/sessions/{id}/enhancements``: the enhancement job started."""

    job_id: str
    total: int = 0
    photos: int = 0
    videos: int = 0


class EnhancementItem(msgspec.Struct, frozen=True, kw_only=True):
    """One item of ``GET …/enhancements/{job}`` (the fields the CLI reads)."""

    key: str
    name: str
    #: photo | video
    kind: str | None = None
    #: queued | running (it has a phase) | enhanced | failed | cancelled | skipped
    status: str
    phase: str | None = None
    #: how far the phase is (0..100), for a video's render
    phase_percent: float | None = None
    changes: list[str] = []
    after_thumbnail_url: str | None = None
    enhanced_url: str | None = None
    code: str | None = None
    error: str | None = None

    @property
    def ended(self) -> bool:
        return self.status in ("enhanced", "failed", "cancelled", "skipped")


class EnhancementState(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/sessions/{id}/enhancements/{job}``: ``status`` is ``processing`` until the job's saga
    records its ending (``done``, ``partial``, ``failed`` or ``cancelled``)."""

    job_id: str
    status: str
    total: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    items: list[EnhancementItem] = []


class _Created(msgspec.Struct, frozen=True):
    session_id: str


def problem_message(response: httpx.Response) -> str:
    """The most specific text of an RFC 9457 problem document (or the body, or the status phrase)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    phrase = _phrase(response.status_code)
    if isinstance(body, dict):
        for field in ("detail", "title"):
            value = body.get(field)
            if isinstance(value, str) and value and value != phrase:
                return value
    text = response.text.strip()
    return text[:300] if text and not text.startswith("{") else phrase


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class ApiClient:
    """``async with ApiClient(url) as api: ...``; one connection pool for the API and the uploads."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = 4,
        backoff_s: float = 0.2,
        outage_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0),
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._outage_s = outage_s
        #: the API has answered once: from then on a failure is an outage to ride out, not a wrong URL
        self._reached = False

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ plumbing
    def _stop(self, state: RetryCallState) -> bool:
        """Whether to give up: after ``attempts``; but a connection lost to an API that has answered
        before is tried again for up to ``outage_s``."""
        error = state.outcome.exception() if state.outcome is not None else None
        if self._reached and isinstance(error, httpx.TransportError):
            return (state.seconds_since_start or 0.0) >= self._outage_s
        return state.attempt_number >= self._attempts

    async def _send(self, method: str, url: str, *, api: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**(self._auth if api else {}), **kwargs.pop("headers", {})}
        content_factory = kwargs.pop("content_factory", None)
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=wait_exponential(multiplier=self._backoff_s, max=3.0),
            retry=retry_if_exception_type((httpx.TransportError, _Transient)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if content_factory is not None:
                        kwargs["content"] = content_factory()
                    response = await self._http.request(method, url, headers=headers, **kwargs)
                    self._reached = self._reached or api
                    if response.status_code in _RETRY_STATUSES:
                        raise _Transient(response)
                    return response
        except _Transient as exc:
            return exc.response
        except httpx.TransportError as exc:
            where = self.base_url if api else httpx.URL(url).copy_with(query=None)
            raise ApiUnreachable(
                f"cannot reach {where} ({type(exc).__name__}: {exc or 'no answer'})"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying either returns or raises

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    @staticmethod
    def _fail(response: httpx.Response, what: str) -> ApiError:
        message = f"{what}: {response.status_code} {problem_message(response)}"
        if response.status_code == 404:
            return SessionNotFound(message, status=404)
        return ApiError(message, status=response.status_code)

    # ------------------------------------------------------------------ endpoints
    async def health(self) -> None:
        r = await self._send("GET", self._url("/health"))
        if r.status_code != 200:
            raise ApiError(
                f"{self.base_url}/health answered {r.status_code}; is this a Shoebox API?",
                status=r.status_code,
            )

    async def create_session(self, context: str) -> str:
        r = await self._send("POST", self._url("/v1/sessions"), json={"context": context})
        if r.status_code != 201:
            raise self._fail(r, "creating the session")
        return msgspec.json.decode(r.content, type=_Created).session_id

    async def session(
        self, session_id: str, *, etag: str | None = None, after_version: int | None = None
    ) -> tuple[SessionStatus | None, str | None]:
        """The session's status, or (None, etag) when it did not change since ``etag``. With
        ``after_version`` (an earlier answer's ``version``, sent with its ETag) only the files that changed
        since: merge them (``SessionFiles``)."""
        headers = {"If-None-Match": etag} if etag else {}
        params = {"after_version": after_version} if after_version is not None else None
        r = await self._send("GET", self._url(f"/v1/sessions/{session_id}"), headers=headers, params=params)
        if r.status_code == 304:
            return None, etag
        if r.status_code != 200:
            raise self._fail(r, f"reading session {session_id}")
        return msgspec.json.decode(r.content, type=SessionStatus), r.headers.get("etag")

    async def request_upload(self, session_id: str, name: str, content_type: str, size: int) -> Ticket:
        r = await self._send(
            "POST",
            self._url(f"/v1/sessions/{session_id}/uploads"),
            json={"name": name, "content_type": content_type, "size": size},
        )
        if r.status_code in (400, 413, 415, 422):
            raise UploadRefused(problem_message(r), status=r.status_code)
        if r.status_code != 201:
            raise self._fail(r, f"asking to upload {name}")
        return msgspec.json.decode(r.content, type=Ticket)

    async def put(self, ticket: Ticket, path: Path, size: int) -> None:
        """Upload the file's bytes to the presigned URL, streamed (never the whole file in memory)."""
        headers = {**ticket.headers, "Content-Length": str(size)}
        r = await self._send(
            ticket.method,
            ticket.url,
            api=False,
            headers=headers,
            content_factory=lambda: _chunks(path),
            timeout=httpx.Timeout(300.0, connect=5.0),
        )
        if not 200 <= r.status_code < 300:
            raise ApiError(
                f"the upload of {path.name} failed: {r.status_code} {r.text[:200]}", status=r.status_code
            )

    async def start_triage(self, session_id: str, expected: int) -> TriageJob:
        """Start the session's triage for ``expected`` files (again: the same job, its count updated)."""
        r = await self._send(
            "POST", self._url(f"/v1/sessions/{session_id}/triage"), json={"expected": expected}
        )
        if r.status_code != 202:
            raise self._fail(r, f"starting the triage of session {session_id}")
        return msgspec.json.decode(r.content, type=TriageJob)

    async def finalize_triage(self, session_id: str, job_id: str, uploaded: int) -> TriageJob:
        """Say the uploads are over (once; a second call changes nothing)."""
        r = await self._send(
            "POST",
            self._url(f"/v1/sessions/{session_id}/triage/{job_id}/finalize"),
            json={"uploaded": uploaded, "failed": []},
        )
        if r.status_code != 200:
            raise self._fail(r, f"finalizing the triage of session {session_id}")
        return msgspec.json.decode(r.content, type=TriageJob)

    async def triage(
        self, session_id: str, job_id: str, *, etag: str | None = None
    ) -> tuple[TriageResults | None, str | None]:
        """The triage job's state, or (None, etag) when it did not change since ``etag``."""
        headers = {"If-None-Match": etag} if etag else {}
        r = await self._send("GET", self._url(f"/v1/sessions/{session_id}/triage/{job_id}"), headers=headers)
        if r.status_code == 304:
            return None, etag
        if r.status_code != 200:
            raise self._fail(r, f"reading the triage of session {session_id}")
        return msgspec.json.decode(r.content, type=TriageResults), r.headers.get("etag")

    async def start_selection(
        self, session_id: str, count: int | None, *, context: str | None = None, model: str | None = None
    ) -> SelectionJob:
        """Ask for a selection of ``count`` picks (None: "all")."""
        body: dict[str, Any] = {"count": "all" if count is None else count}
        if context is not None:
            body["context"] = context
        if model is not None:
            body["model"] = model
        r = await self._send("POST", self._url(f"/v1/sessions/{session_id}/selections"), json=body)
        if r.status_code not in (200, 201, 202):
            raise self._fail(r, f"starting the selection of session {session_id}")
        return msgspec.json.decode(r.content, type=SelectionJob)

    async def selection(
        self, session_id: str, job_id: str, *, etag: str | None = None
    ) -> tuple[SelectionState | None, str | None]:
        """The selection job's state, or (None, etag) when it did not change since ``etag``."""
        headers = {"If-None-Match": etag} if etag else {}
        r = await self._send(
            "GET", self._url(f"/v1/sessions/{session_id}/selections/{job_id}"), headers=headers
        )
        if r.status_code == 304:
            return None, etag
        if r.status_code != 200:
            raise self._fail(r, f"reading the selection of session {session_id}")
        return msgspec.json.decode(r.content, type=SelectionState), r.headers.get("etag")

    async def start_enhancement(self, session_id: str, selection_job_id: str) -> EnhancementJob:
        """Enhance the picks of the complete selection ``selection_job_id``."""
        body = {"selection_job_id": selection_job_id}
        r = await self._send("POST", self._url(f"/v1/sessions/{session_id}/enhancements"), json=body)
        if r.status_code != 202:
            raise self._fail(r, f"starting the enhancement of session {session_id}")
        return msgspec.json.decode(r.content, type=EnhancementJob)

    async def enhancement(
        self, session_id: str, job_id: str, *, etag: str | None = None, cancel: bool = False
    ) -> tuple[EnhancementState | None, str | None]:
        """The enhancement job's state, or (None, etag) when it did not change since ``etag``; with
        ``cancel``, cancel it first (its items not started end ``cancelled``) and answer its state."""
        headers = {"If-None-Match": etag} if etag and not cancel else {}
        url = self._url(f"/v1/sessions/{session_id}/enhancements/{job_id}")
        r = await self._send("DELETE" if cancel else "GET", url, headers=headers)
        if r.status_code == 304:
            return None, etag
        if r.status_code != 200:
            raise self._fail(r, f"{'cancelling' if cancel else 'reading'} enhancement {job_id}")
        return msgspec.json.decode(r.content, type=EnhancementState), r.headers.get("etag")

    async def video_before_url(self, item: EnhancementItem) -> str | None:
        """A video item's original as a presigned GET of its 720p preview (``…/items/{name}/media``,
        beside the item's ``…/file``), or None when it has none."""
        url = (item.enhanced_url or "").removesuffix("/file") + "/media"
        r = await self._send("GET", self._url(url))
        if r.status_code != 200:
            raise self._fail(r, f"the clips of {item.name}")
        before = msgspec.json.decode(r.content, type=dict[str, Any]).get("before")
        return str(before["url"]) if isinstance(before, dict) else None

    async def events(self, session_id: str, *, after: int = 0, limit: int = 100) -> EventPage:
        r = await self._send(
            "GET", self._url(f"/v1/sessions/{session_id}/events"), params={"after": after, "limit": limit}
        )
        if r.status_code != 200:
            raise self._fail(r, f"reading the events of session {session_id}")
        return msgspec.json.decode(r.content, type=EventPage)

    async def all_events(self, session_id: str, *, page_size: int = 200) -> AsyncIterator[LogEvent]:
        """Every event of the session's log, in order, page by page."""
        after = 0
        while True:
            page = await self.events(session_id, after=after, limit=page_size)
            for event in page.events:
                yield event
            if page.next_after is None or not page.events:
                return
            after = page.next_after

    async def download(self, url: str, dest: Path) -> None:
        absolute = "://" in url
        r = await self._send(
            "GET",
            url if absolute else self._url(url),
            api=not absolute or url.startswith(self.base_url + "/"),
        )
        if r.status_code != 200:
            raise ApiError(f"downloading {url}: {r.status_code}", status=r.status_code)
        await anyio.Path(dest).write_bytes(r.content)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        while chunk := await f.read(CHUNK):
            yield chunk
