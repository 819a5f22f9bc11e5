"""An event for a session that does not exist is recorded as failed, never applied.

``EventLog.commit(..., session=)`` refuses, in the commit's own transaction, a commit for a session with no
``META`` read model (``UnknownSession``: nothing written, the tracking record neither), on both logs; the
consumers' ``Processor`` passes its message's session, gives such a message up at once and records its
``shoebox.message.failed`` on the system stream. An S3 upload under a session that does not exist is
refused the same way, by both of its consumers, and media_process deletes it unread (issue 12; the other
keys it refuses: ``tests/media/test_refused_keys.py``).
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.selection import handlers as selection
from services.selection import selection_handler
from services.selection.offline_selection import OfflineSelection
from services.selection.providers import OfflineTriage
from services.selection.topology import CONSUMER as SELECTION
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.dead_letters import gives_up
from shared.runtime.log import (
    AlreadyProcessed,
    DynamoEventLog,
    EventLog,
    InMemoryEventLog,
    Tracking,
    UnknownSession,
)
from shared.runtime.processor import SYSTEM_STREAM, Processor
from shared.runtime.projections import session_pk
from shared.runtime.service import Service
from shared.runtime.storage import InMemoryObjectStore
from tests.support.events import processed, session_created
from tests.support.inproc import Consumers
from tests.support.messages import bus_body, saga_command_body
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = pytest.mark.anyio

PHOTO = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.stack)])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        yield InMemoryEventLog()
        return
    stack: RunningStack = request.getfixturevalue("emulator_only")
    async with Clients(stack.settings) as clients:
        yield DynamoEventLog.of(clients)


async def test_a_commit_for_a_session_that_does_not_exist_writes_nothing(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    tracking = Tracking("test", f"m-{sid}")
    with pytest.raises(UnknownSession, match=sid):
        await log.commit([processed(sid, "a.jpg")], tracking=tracking, session=sid)
    with pytest.raises(UnknownSession):  # a handler that decided nothing: not even its tracking record
        await log.commit([], tracking=tracking, session=sid)
    assert await log.read_all(sid) == []
    assert await log.query_views(session_pk(sid)) == []  # no FILE#, no COUNTERS, no job
    assert not await log.is_processed(tracking)


async def test_the_commit_that_creates_a_session_passes_and_then_its_events_apply(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    await log.commit([session_created(sid)], session=sid)
    await log.commit([processed(sid, "a.jpg")], tracking=Tracking("test", f"m-{sid}"), session=sid)
    assert (await log.counters(sid)).processed == 1
    # a message already handled is refused as such, whatever its session
    with pytest.raises(AlreadyProcessed):
        await log.commit([], tracking=Tracking("test", f"m-{sid}"), session=str(uuid.uuid4()))


async def test_without_a_session_to_check_a_commit_is_as_before(log: EventLog) -> None:
    """The API's own commits (after its access check) and the tests' direct ones ask for no check."""
    sid = str(uuid.uuid4())
    await log.commit([processed(sid, "a.jpg")])
    assert (await log.counters(sid)).processed == 1


class World:
    """The api's consumer, media_process and selection on one in-memory log and store, and what a worker
    does with one receive of a message (handle it, or give it up when that is due), without SQS."""

    def __init__(self, tmp: str) -> None:
        self.log = InMemoryEventLog()
        self.store = InMemoryObjectStore("media")
        self.consumers = Consumers(self.log, self.store, Settings(), tmp_root=tmp)
        deps = selection.Deps(store=self.store, log=self.log, provider=OfflineTriage())
        handle = functools.partial(selection.handle_triage_requested, deps=deps)
        service = Service(
            SELECTION,
            {
                c.TriageRequested: handle,
                c.SelectionRequested: functools.partial(
                    selection.handle_selection_requested,
                    deps=selection_handler.Deps(store=self.store, log=self.log, provider=OfflineSelection()),
                ),
            },
            on_give_up=selection.on_give_up,
        )
        self.selection = Processor(service, self.log)
        self._ids = itertools.count(1)
        self.message_ids: list[str] = []

    async def deliver(self, processor: Processor, body: str, receive_count: int = 1) -> list[Event[Any]]:
        message_id = f"m{next(self._ids)}"
        self.message_ids.append(message_id)
        try:
            return await processor.process(body)
        except Exception as exc:
            if not gives_up(exc, receive_count):
                raise
            return await processor.give_up(
                body,
                error=exc,
                message_id=message_id,
                receive_count=receive_count,
                queue=f"{processor.service.name}-q",
                dead_letter_queue=f"{processor.service.name}-dlq",
            )

    async def failures(self) -> list[c.MessageFailed]:
        return [e for e in await self.log.read_all(SYSTEM_STREAM) if isinstance(e, c.MessageFailed)]


def triage_requested(sid: str) -> Event[Any]:
    return make_event(
        c.TriageRequestedData(job_id="j1", attempt=1, expected=1, processed=1, rejected=0, duplicate=0),
        source="shoebox/api",
        session_id=sid,
    )


async def test_no_consumer_applies_an_event_for_a_session_that_does_not_exist(tmp_path: Any) -> None:
    w = World(str(tmp_path))
    ghost = str(uuid.uuid4())
    messages = [
        (w.consumers.api, saga_command_body("request_triage", ghost, "j1")),
        (w.consumers.api, saga_command_body("triage_timed_out", ghost, "j1", 2, timed_out=True)),
        (w.selection, bus_body(triage_requested(ghost))),
    ]
    for processor, body in messages:
        [failed] = await w.deliver(processor, body)  # given up at once: the first receive
        assert isinstance(failed, c.MessageFailed) and failed.sessionid == SYSTEM_STREAM
    assert await w.log.read_all(ghost) == []
    assert await w.log.query_views(session_pk(ghost)) == []  # no counters, no job, no triage.failed
    failures = await w.failures()
    assert [f.data.message_id for f in failures] == w.message_ids
    assert {f.data.error_type for f in failures} == {"UnknownSession"}
    assert {f.data.receive_count for f in failures} == {1}
    assert all(ghost in f.data.error for f in failures)
    assert [f.data.event_type for f in failures] == [
        "saga.request_triage",
        "saga.triage_timed_out",
        "shoebox.triage.requested.v1",
    ]
    # each is on record: a redelivery is skipped, not failed again
    for processor, body in messages:
        assert await w.deliver(processor, body) == []
    assert len(await w.failures()) == len(messages)

    # the same messages for a session that exists are applied
    sid = str(uuid.uuid4())
    await w.log.commit([session_created(sid)])
    [requested] = await w.deliver(w.consumers.api, saga_command_body("request_triage", sid, "j2"))
    assert isinstance(requested, c.TriageRequested)
    [no_files] = await w.deliver(w.selection, bus_body(requested))
    assert isinstance(no_files, c.TriageFailed) and no_files.data.code == "no_files"
    assert len(await w.failures()) == len(messages)


async def test_a_failing_message_of_a_session_that_does_not_exist_is_given_up_to_the_system_stream(
    tmp_path: Any,
) -> None:
    """A failure given up on the last receive (or by the dead-letter sweeper) for such a session: its
    message.failed names the session, and the service's on_give_up (selection: triage.failed) is not
    applied to a session that does not exist."""
    w = World(str(tmp_path))
    ghost = str(uuid.uuid4())
    body = bus_body(triage_requested(ghost))
    [failed] = await w.selection.give_up(
        body,
        error=RuntimeError("provider down"),
        message_id="m1",
        receive_count=5,
        queue="q",
        dead_letter_queue="d",
    )
    assert isinstance(failed, c.MessageFailed) and failed.sessionid == SYSTEM_STREAM
    assert failed.data.error_type == "RuntimeError" and failed.data.receive_count == 5
    assert failed.data.error == f"session {ghost} does not exist; provider down"
    assert await w.log.read_all(ghost) == [] and await w.log.query_views(session_pk(ghost)) == []


async def test_an_upload_under_an_unknown_session_is_refused_deleted_and_never_processed(
    tmp_path: Any,
) -> None:
    """The attack: an object put straight into the bucket under a session that does not exist. Both
    consumers give it up at once to the system stream (naming the session); media_process deletes it before
    reading a byte; nothing is written for that session (no stream, no read model, no thumbnail)."""
    w = World(str(tmp_path))
    ghost = str(uuid.uuid4())
    key = f"uploads/{ghost}/a.jpg"
    await w.store.put(key, PHOTO, "image/jpeg")
    info = await w.store.head(key)
    body = w.consumers.object_created_body(key, info.size, info.etag)
    for processor in (w.consumers.api, w.consumers.media):
        [failed] = await w.deliver(processor, body)
        assert isinstance(failed, c.MessageFailed) and failed.sessionid == SYSTEM_STREAM
        assert failed.data.error_type == "UnknownSession" and ghost in failed.data.error
        assert failed.data.service == processor.service.name
    assert key not in w.store.objects
    assert [k for k in w.store.objects if ghost in k] == []  # no thumbnail, nothing derived
    assert await w.log.read_all(ghost) == [] and await w.log.query_views(session_pk(ghost)) == []
    assert await w.deliver(w.consumers.media, body) == []  # on record: a redelivery is skipped
