"""The session's events as Server-Sent Events, in process: old and new events in order, each once; a
reconnection with ``Last-Event-ID`` resumes after it; keep-alive comments; the stream ends by itself;
refusals come before it starts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import msgspec
import pytest
from litestar.response import ServerSentEventMessage

from services.api import stream
from services.api.auth import LocalIssuer
from services.api.wiring import Collaborators
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event
from shared.runtime.log import InMemoryEventLog, Page
from tests.support.app import SETTINGS, Api, running
from tests.support.events import processed

PROCESSED = "shoebox.media.file.processed.v1"


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


def url(session_id: str) -> str:
    return f"/v1/sessions/{session_id}/events/stream"


def read_all(
    api: Api, session_id: str, headers: dict[str, str], params: dict[str, Any] | None = None
) -> list[Message]:
    """A stream read to its end (give it ``max_seconds``)."""
    with api.client.stream("GET", url(session_id), headers=headers, params=params) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        return list(messages(r.iter_lines()))


def events(ms: Sequence[Message]) -> list[Message]:
    return [m for m in ms if m.event is not None]


class Appending(InMemoryEventLog):
    """A log where the next of ``later`` lands as soon as a stream has caught up (a read found nothing
    new): an event appended while the stream is open, at a known point."""

    def __init__(self) -> None:
        super().__init__()
        self.later: list[Event[Any]] = []

    async def read(self, session_id: str, *, after: int = 0, limit: int = 100) -> Page:
        page = await super().read(session_id, after=after, limit=limit)
        if not page.events and self.later:
            await self.commit([self.later.pop(0)])
        return page


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "POLL_S", 0.05)


def test_the_stream_delivers_old_and_new_events_and_resumes_after_the_last_id(
    issuer: LocalIssuer, fast_polls: None
) -> None:
    log = Appending()
    with running(issuer, msgspec.structs.replace(Collaborators.in_memory(SETTINGS), log=log)) as api:
        auth = api.auth()
        sid = api.new_session("Listening")
        log.later.append(processed(sid, "DSCN0010.jpg"))  # lands once the stream has sent what there was
        ms = read_all(api, sid, auth, {"max_seconds": 1})
        assert ms[0].retry == stream.RETRY_MS
        received = events(ms)
        assert [m.event for m in received] == ["shoebox.session.created.v2", PROCESSED]
        assert [m.id for m in received] == ["1", "2"]
        assert log.later == []
        for m in received:
            envelope = m.json
            assert envelope["type"] == m.event and str(envelope["sequence"]) == m.id
            assert envelope["sessionid"] == sid
        assert received[1].json["data"]["file"]["key"] == f"uploads/{sid}/DSCN0010.jpg"
        # the same envelopes as the paged log
        paged = api.client.get(f"/v1/sessions/{sid}/events", headers=auth).json()["events"]
        assert [m.json for m in received] == paged

        # more happens while nobody listens; the client reconnects from the last event it received
        api.run(log.commit, [processed(sid, "DSCN0012.jpg")])
        resumed = events(
            read_all(
                api,
                sid,
                {**auth, "Last-Event-ID": received[-1].id or ""},
                {"after": 0, "max_seconds": 1},  # the header wins over the URL a browser repeats
            )
        )
        assert [(m.id, m.event) for m in resumed] == [("3", PROCESSED)]
        assert resumed[0].json["data"]["file"]["key"] == f"uploads/{sid}/DSCN0012.jpg"
        # ?after= alone does the same for a client that is not an EventSource
        assert [m.id for m in events(read_all(api, sid, auth, {"after": 1, "max_seconds": 1}))] == ["2", "3"]


def test_a_quiet_stream_sends_keep_alives_and_ends_by_itself(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = api.new_session()
    monkeypatch.setattr(stream, "KEEPALIVE_S", 0.2)
    ms = read_all(api, sid, {**api.auth(), "Last-Event-ID": "1"}, {"max_seconds": 1})
    assert ms[0].retry == stream.RETRY_MS and ms[0].comments == [f"events of session {sid} after 1"]
    assert events(ms) == []  # session.created is sequence 1: nothing after it
    keepalives = [m for m in ms if m.comments == ["keep-alive"]]
    assert len(keepalives) >= 1, ms  # when the log is polled (POLL_S) after a quiet KEEPALIVE_S
    assert ms[-1].comments == ["the stream ends after 1 s; reconnect with Last-Event-ID: 1"]


def test_the_stream_is_refused_before_it_starts(api: Api) -> None:
    sid = api.new_session("Alice's", sub="alice")

    def refused(r: httpx.Response, status: int) -> None:
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Alice's" not in r.text and "event:" not in r.text

    get = api.client.get
    params = {"max_seconds": 1}
    refused(get(url(sid), params=params), 401)
    refused(get(url(sid), params=params, headers=api.auth("bob")), 404)
    alice = api.auth("alice")
    refused(get(url(sid), params={"max_seconds": 0}, headers=alice), 400)
    refused(get(url(sid), params={"max_seconds": api.settings.stream.max_s + 1}, headers=alice), 400)
    refused(get(url(sid), params={"after": -1, "max_seconds": 1}, headers=alice), 400)
    refused(get(url(sid), params=params, headers={**alice, "Last-Event-ID": "nope"}), 400)


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
