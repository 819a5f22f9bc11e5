"""A session's events as Server-Sent Events, for clients that would rather listen than poll.

``GET /v1/sessions/{id}/events/stream`` answers ``text/event-stream``: every event of the session's log, in
sequence order, as one SSE message each (``id:`` the event's sequence, ``event:`` its type, ``data:`` the
envelope as JSON, as ``GET /v1/sessions/{id}/events`` pages it), then the new ones as they are appended.

- Where it starts: after the ``Last-Event-ID`` header when there is one (what an ``EventSource`` sends when it
  reconnects), else after ``?after=`` (default 0: from the first event). The header wins: a reconnecting
  browser repeats the original URL, ``?after=`` included.
- The log is read every ``POLL_S`` (a page of up to ``PAGE`` events at a time; a full page is followed at
  once by the next); a comment line (``: keep-alive``) goes out after ``KEEPALIVE_S`` without a message so
  that proxies keep the connection open.
- The stream ends after ``?max_seconds=`` or at most ``settings.stream.max_s`` (``SHOEBOX_API_STREAM_MAX_S``,
  10 minutes by default; a larger ``max_seconds`` is refused with 400) with a comment saying so; an
  ``EventSource`` reconnects by itself (after ``retry:``, sent first) with ``Last-Event-ID`` and misses
  nothing. It also ends, the same way, if the log cannot be read.
- The token and the session's ownership are checked before the stream starts: 401 or 404 problem
  documents, as on every route.

Behind API Gateway and Lambda (a buffered integration, 30 s at most) the answer arrives whole when the
stream ends: there, clients pass ``max_seconds`` below the gateway's timeout and use it as a long poll.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import FromPath, HeaderParameter, Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from services.api.access import CallerDep, event_log, owned_meta
from shared.events.envelope import AnyEvent
from shared.runtime.log import EventLog

log = logging.getLogger("shoebox.api.stream")

POLL_S = 0.5
KEEPALIVE_S = 15.0
PAGE = 100
#: how long an EventSource waits before reconnecting (ms)
RETRY_MS = 1000


def _message(event: AnyEvent) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=msgspec.json.encode(event).decode(), id=event.sequence, event=type(event).type_name()
    )


async def session_stream(
    log_: EventLog,
    session_id: str,
    *,
    after: int,
    seconds: float,
    poll_s: float = POLL_S,
    keepalive_s: float = KEEPALIVE_S,
) -> AsyncIterator[ServerSentEventMessage]:
    """The session's events after ``after`` as SSE messages, for ``seconds``, then a closing comment."""
    started = anyio.current_time()
    deadline = started + seconds
    last_sent = started
    cursor = after
    yield ServerSentEventMessage(
        data=None, comment=f"events of session {session_id} after {after}", retry=RETRY_MS
    )
    while True:
        try:
            page = await log_.read(session_id, after=cursor, limit=PAGE)
        except Exception:
            log.exception("cannot read the log of %s; ending the stream", session_id)
            yield ServerSentEventMessage(data=None, comment="cannot read the log now; reconnect")
            return
        for event in page.events:
            yield _message(event)
            cursor = event.sequence
        now = anyio.current_time()
        if page.events:
            last_sent = now
        if now >= deadline:
            break
        if page.next_after is not None:
            continue  # a full page: the next one at once
        if now - last_sent >= keepalive_s:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            last_sent = now
        await anyio.sleep(min(poll_s, deadline - now))
    yield ServerSentEventMessage(
        data=None, comment=f"the stream ends after {seconds:g} s; reconnect with Last-Event-ID: {cursor}"
    )


@get("/v1/sessions/{session_id:str}/events/stream", media_type="text/event-stream")
async def stream_events(
    session_id: FromPath[str],
    state: State,
    caller: CallerDep,
    after: Annotated[int, Parameter(ge=0, description="start after this sequence number")] = 0,
    max_seconds: Annotated[
        int | None,
        Parameter(
            ge=1, description="end the stream after this long (at most the server's SHOEBOX_API_STREAM_MAX_S)"
        ),
    ] = None,
    last_event_id: Annotated[
        int | None,
        HeaderParameter(name="Last-Event-ID", ge=0, description="the last event received: start after it"),
    ] = None,
) -> ServerSentEvent:
    """The session's events as Server-Sent Events, from ``Last-Event-ID`` (or ``after``) onwards, old and
    new, until ``max_seconds``: then reconnect with ``Last-Event-ID``."""
    # the limit is the process's setting (SHOEBOX_API_STREAM_MAX_S), so it is checked here, not in the type
    longest: int = state.settings.stream.max_s
    if max_seconds is not None and max_seconds > longest:
        raise ValidationException(
            detail=f"max_seconds must be at most {longest}",
            extra=[{"message": f"Expected `int` <= {longest}", "key": "max_seconds", "source": "query"}],
        )
    await owned_meta(state, session_id, caller)
    messages = session_stream(
        event_log(state),
        session_id,
        after=after if last_event_id is None else last_event_id,
        seconds=longest if max_seconds is None else max_seconds,
        poll_s=POLL_S,
        keepalive_s=KEEPALIVE_S,
    )
    return ServerSentEvent(messages, headers={"Cache-Control": "no-store"})


ROUTES = [stream_events]
