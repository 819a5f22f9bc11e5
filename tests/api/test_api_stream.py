"""The session's events as Server-Sent Events: old and new events in order, each once; a reconnection with
``Last-Event-ID`` resumes after it; keep-alive comments; the stream ends by itself; refusals come before it
starts."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from litestar.response import ServerSentEventMessage

from services.api import stream
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.log import InMemoryEventLog, Page
from tests.support.api import file_status, new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

PROCESSED = "shoebox.media.file.processed.v1"
PHOTOS = TESTDATA / "photos" / "gps"


@dataclasses.dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: list[str] = dataclasses.field(default_factory=list)
    comments: list[str] = dataclasses.field(default_factory=list)
    retry: int | None = None

    @property
    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def messages(lines: Iterator[str]) -> Iterator[Message]:
    """The SSE blocks of a stream (comments and events alike), as a client parses them."""
    m = Message()
    for line in lines:
        if not line:
            yield m
            m = Message()
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "":
            m.comments.append(value)
        elif field == "id":
            m.id = value
        elif field == "event":
            m.event = value
        elif field == "data":
            m.data.append(value)
        elif field == "retry":
            m.retry = int(value)


def url(api: str, session_id: str) -> str:
    return f"{api}/v1/sessions/{session_id}/events/stream"


def read_all(
    api: str, session_id: str, headers: dict[str, str], params: dict[str, Any] | None = None
) -> list[Message]:
    """A stream read to its end (give it ``max_seconds``)."""
    with httpx.stream("GET", url(api, session_id), headers=headers, params=params, timeout=30) as r:
        assert r.status_code == 200, r.read()
        return list(messages(r.iter_lines()))


def events(ms: Sequence[Message]) -> list[Message]:
    return [m for m in ms if m.event is not None]


@pytest.mark.stack
def test_the_stream_delivers_old_and_new_events_and_resumes_after_the_last_id(
    embedded_stack: RunningStack,
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, "Listening", headers=auth)
    received: list[Message] = []
    key = ""
    with httpx.stream("GET", url(api, sid), headers=auth, timeout=httpx.Timeout(10, read=30)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        deadline = time.monotonic() + 90
        for m in messages(r.iter_lines()):
            assert time.monotonic() < deadline, f"no {PROCESSED} in time: {received}"
            if m.retry is not None:
                assert m.retry == stream.RETRY_MS
            if m.event is None:
                continue
            received.append(m)
            if m.event == "shoebox.session.created.v2" and not key:
                # the stream is open and caught up with the log: now something happens in the session
                key = upload(api, sid, "DSCN0010.jpg", (PHOTOS / "DSCN0010.jpg").read_bytes(), headers=auth)
            if m.event == PROCESSED:
                break
    assert [m.event for m in received] == ["shoebox.session.created.v2", PROCESSED]
    assert [m.id for m in received] == ["1", "2"]
    for m in received:
        envelope = m.json
        assert envelope["type"] == m.event and str(envelope["sequence"]) == m.id
        assert envelope["sessionid"] == sid
    assert received[1].json["data"]["file"]["key"] == key
    # the same envelopes as the paged log
    paged = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    assert [m.json for m in received] == paged

    # more happens while nobody listens; the client reconnects from the last event it received
    later = upload(api, sid, "DSCN0012.jpg", (PHOTOS / "DSCN0012.jpg").read_bytes(), headers=auth)
    eventually(lambda: file_status(api, sid, later, headers=auth), timeout_s=60, what="the second photo")
    resumed = events(
        read_all(
            api,
            sid,
            {**auth, "Last-Event-ID": received[-1].id or ""},
            {"after": 0, "max_seconds": 1},  # the header wins over the URL a browser repeats
        )
    )
    assert [(m.id, m.event) for m in resumed] == [("3", PROCESSED)]
    assert resumed[0].json["data"]["file"]["key"] == later
    # ?after= alone does the same for a client that is not an EventSource
    assert [m.id for m in events(read_all(api, sid, auth, {"after": 1, "max_seconds": 1}))] == ["2", "3"]


@pytest.mark.stack
def test_a_quiet_stream_sends_keep_alives_and_ends_by_itself(
    embedded_stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    monkeypatch.setattr(stream, "KEEPALIVE_S", 0.2)  # the API runs in this process
    started = time.monotonic()
    ms = read_all(api, sid, {**auth, "Last-Event-ID": "1"}, {"max_seconds": 2})
    took = time.monotonic() - started
    assert took >= 2, took  # the stream lasted its max_seconds
    assert ms[0].retry == stream.RETRY_MS and ms[0].comments == [f"events of session {sid} after 1"]
    assert events(ms) == []  # session.created is sequence 1: nothing after it
    keepalives = [m for m in ms if m.comments == ["keep-alive"]]
    assert len(keepalives) >= 1, ms  # when the log is polled (POLL_S) after a quiet KEEPALIVE_S
    assert ms[-1].comments == ["the stream ends after 2 s; reconnect with Last-Event-ID: 1"]


@pytest.mark.stack
def test_the_stream_is_refused_before_it_starts(embedded_stack: RunningStack) -> None:
    api = embedded_stack.api_url
    sid = new_session(api, "Alice's", headers=embedded_stack.auth("alice"))

    def refused(r: httpx.Response, status: int) -> None:
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Alice's" not in r.text and "event:" not in r.text

    params = {"max_seconds": 1}
    refused(httpx.get(url(api, sid), params=params), 401)
    refused(httpx.get(url(api, sid), params=params, headers=embedded_stack.auth("bob")), 404)
    alice = embedded_stack.auth("alice")
    refused(httpx.get(url(api, sid), params={"max_seconds": 0}, headers=alice), 400)
    refused(
        httpx.get(
            url(api, sid), params={"max_seconds": embedded_stack.settings.stream.max_s + 1}, headers=alice
        ),
        400,
    )
    refused(httpx.get(url(api, sid), params={"after": -1, "max_seconds": 1}, headers=alice), 400)
    refused(httpx.get(url(api, sid), params=params, headers={**alice, "Last-Event-ID": "nope"}), 400)


# --------------------------------------------------------------------------- the generator alone
async def collect(log: Any, session_id: str, **kw: Any) -> list[ServerSentEventMessage]:
    return [m async for m in stream.session_stream(log, session_id, **kw)]


@pytest.mark.anyio
async def test_every_page_is_sent_in_order_each_event_once() -> None:
    log = InMemoryEventLog()
    sid = "8b0f6f5e-7c1a-4d55-9d0e-2a1b3c4d5e6f"
    deleted = [
        make_event(
            c.FileDeletedData(key=f"uploads/{sid}/{i}.jpg", reason="cleanup"), source="t", session_id=sid
        )
        for i in range(250)
    ]
    for i in range(0, len(deleted), 20):
        await log.commit(deleted[i : i + 20])
    ms = await collect(log, sid, after=20, seconds=0.3, poll_s=0.05)
    sent = [m for m in ms if m.event is not None]
    assert [m.id for m in sent] == list(range(21, 251))
    assert {m.event for m in sent} == {"shoebox.media.file.deleted.v1"}
    assert json.loads(str(sent[0].data))["data"]["key"] == f"uploads/{sid}/20.jpg"
    assert ms[-1].comment == "the stream ends after 0.3 s; reconnect with Last-Event-ID: 250"


@pytest.mark.anyio
async def test_a_log_that_cannot_be_read_ends_the_stream_with_a_comment() -> None:
    class Broken(InMemoryEventLog):
        async def read(self, session_id: str, *, after: int = 0, limit: int = 100) -> Page:
            raise RuntimeError("the table is gone")

    ms = await collect(Broken(), "s", after=0, seconds=10)
    assert [m.comment for m in ms[1:]] == ["cannot read the log now; reconnect"]
