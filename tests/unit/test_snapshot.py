"""The API's reads of a session: files and counters from the same moment, even when an event lands
between the two reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import overload

import pytest

from services.api.access import SNAPSHOT_TRIES, snapshot
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.log import InMemoryEventLog
from shared.runtime.projections import job_key
from shared.runtime.read_models import V, ViewItem
from tests.support.events import processed

pytestmark = pytest.mark.anyio


class Racing(InMemoryEventLog):
    """A log where ``landing`` more events commit right after each of the next Queries of files reads."""

    def __init__(self, sid: str, landing: int) -> None:
        super().__init__()
        self.sid, self.landing, self.queries = sid, landing, 0

    @overload
    async def query_views(self, pk: str, sk_prefix: str = "") -> list[ViewItem]: ...

    @overload
    async def query_views(self, pk: str, sk_prefix: str = "", *, type: type[V]) -> list[V]: ...

    async def query_views(
        self, pk: str, sk_prefix: str = "", *, type: type[ViewItem] | None = None
    ) -> Sequence[ViewItem]:
        items: Sequence[ViewItem]
        if type is None:
            items = await super().query_views(pk, sk_prefix)
        else:
            items = await super().query_views(pk, sk_prefix, type=type)
        if sk_prefix != "FILE#":
            return items
        self.queries += 1
        if self.landing:
            self.landing -= 1
            await self.commit([processed(self.sid, f"late-{self.landing}.jpg")])
        return items


async def test_files_and_counters_agree_when_an_event_lands_between_the_reads() -> None:
    sid = str(uuid.uuid4())
    log = Racing(sid, landing=1)
    await log.commit([processed(sid, "a.jpg")])
    first = await log.counters(sid)
    snap = await snapshot(log, sid, counters=first)
    assert log.queries == 2  # read again: an event moved the version on
    assert snap.counters.processed == len(snap.files) == 2
    assert snap.counters.version == first.version + 1


async def test_under_constant_change_the_last_read_is_returned() -> None:
    sid = str(uuid.uuid4())
    log = Racing(sid, landing=10)
    await log.commit([processed(sid, "a.jpg")])
    snap = await snapshot(log, sid)
    assert log.queries == SNAPSHOT_TRIES
    assert len(snap.files) == SNAPSHOT_TRIES  # a.jpg and what landed before the last Query
    # with the counters read before that Query, never the newer ones it may not show (their ETag would
    # let a poller keep files older than the version it was told)
    assert snap.counters.processed == len(snap.files)


async def test_the_job_is_read_with_the_files() -> None:
    sid = str(uuid.uuid4())
    log = Racing(sid, landing=0)
    init = make_event(c.TriageInitializedData(job_id="j1", expected=1), source="t", session_id=sid)
    await log.commit([init, processed(sid, "a.jpg")])
    snap = await snapshot(log, sid, job=job_key(sid, "j1"))
    assert snap.job is not None and (snap.job.kind, snap.job.status) == ("triage", "pending")
    assert [f.name for f in snap.files] == ["a.jpg"] and snap.counters.expected == 1
    assert (await snapshot(log, sid, job=job_key(sid, "j2"))).job is None
