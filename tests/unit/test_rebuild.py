"""Rebuilding read models from the log, in memory: what ``shoebox rebuild-views`` runs (its emulator run is
``tests/cli/test_cli_rebuild.py``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime import projections
from shared.runtime.log import InMemoryEventLog, RebuildRaced
from shared.runtime.projections import counters_key, file_key, session_pk
from shared.runtime.read_models import ViewItem, decode
from shoebox_cli.rebuild import RebuildError, Rebuilt, rebuild
from tests.support.events import processed

pytestmark = pytest.mark.anyio


async def _session(log: InMemoryEventLog, files: int = 3) -> str:
    sid = str(uuid.uuid4())
    created = c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="x"))
    await log.commit([make_event(created, source="t", session_id=sid)])
    for i in range(files):
        await log.commit([processed(sid, f"{i}.jpg")])
    return sid


async def _folded(log: InMemoryEventLog, sid: str) -> list[ViewItem]:
    """The read models the session's log makes (what incremental commits made, as the contract suite
    shows)."""
    folded = projections.fold(await log.read_all(sid))
    return [decode(folded[k], projections.view_type(k)) for k in sorted(folded)]


class Racing(InMemoryEventLog):
    """A log where an event of ``sid`` commits right after each of the next ``landing`` full reads of its
    stream: while a rebuild works from what it read."""

    def __init__(self) -> None:
        super().__init__()
        self.sid = ""
        self.landing = 0
        self.reads = 0

    async def read_all(self, session_id: str, *, page_size: int = 500) -> list[Any]:
        events = await super().read_all(session_id, page_size=page_size)
        self.reads += 1
        if session_id == self.sid and self.landing:
            self.landing -= 1
            await self.commit([processed(session_id, f"late-{self.reads}.jpg")])
        return events


async def test_an_event_that_lands_during_a_rebuild_is_in_the_rebuilt_read_models() -> None:
    log = Racing()
    sid = await _session(log)
    log.sid, log.landing = sid, 1
    rebuilt = await log.rebuild_views(sid)
    assert log.reads == 4  # read, check (changed), read, check
    assert rebuilt == 5  # the second pass folded the late event too
    assert (await log.counters(sid)).processed == 4
    assert await log.query_views(session_pk(sid)) == await _folded(log, sid)


async def test_a_session_that_never_stops_changing_is_not_rebuilt_forever() -> None:
    log = Racing()
    sid = await _session(log)
    log.sid, log.landing = sid, 100
    with pytest.raises(RebuildRaced, match=sid):
        await log.rebuild_views(sid, tries=3)
    assert log.reads == 6


async def test_all_sessions_are_rebuilt_and_a_failing_one_does_not_stop_the_others() -> None:
    log = Racing()
    files = {await _session(log, files=i): i for i in range(1, 4)}
    sids = sorted(files)  # the order rebuild takes them in
    raced = sids[1]
    log.sid, log.landing = raced, 100
    for sid in sids:  # every session's read models lost or damaged
        log.stored_views.pop(file_key(sid, f"uploads/{sid}/0.jpg"))
        if sid != raced:  # (its commits would fail on it, as in DynamoDB: an ADD to a string)
            log.stored_views[counters_key(sid)]["processed"] = "lost"
    seen: list[Rebuilt] = []
    results = await rebuild(log, None, progress=seen.append)
    assert results == seen
    # a session's events: its creation and one per file
    assert [(r.session_id, r.events) for r in results] == [
        (sids[0], 1 + files[sids[0]]),
        (raced, None),
        (sids[2], 1 + files[sids[2]]),
    ]
    assert results[1].error is not None and "kept landing" in results[1].error
    for sid in (sids[0], sids[2]):
        assert await log.query_views(session_pk(sid)) == await _folded(log, sid)


async def test_named_sessions_must_be_in_the_log() -> None:
    log = InMemoryEventLog()
    sid = await _session(log)
    log.stored_views.clear()
    nowhere = str(uuid.uuid4())
    with pytest.raises(RebuildError, match=nowhere):
        await rebuild(log, [sid, nowhere])
    assert log.stored_views == {}  # refused before anything was written
    assert [r.events for r in await rebuild(log, [sid])] == [4]
    assert await log.query_views(session_pk(sid)) == await _folded(log, sid)
