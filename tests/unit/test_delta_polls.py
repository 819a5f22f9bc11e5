"""The API's delta polls (``?after_version=N``, ``services/api/changes.py``): over any sequence of writes to
a session's files (uploads received, decided each way, unchanged, deleted) with polls in between, some of
them racing a commit that lands between their reads, a client that merges every answer into what it had
holds exactly what a full read shows. It fails when a delta misses a change: a commit landing out of
sequence order, a version answered that is newer than what was read, a touched key left out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api import changes as changes_module
from services.api.access import snapshot
from services.api.changes import changes
from services.api.files import FileStatus, listed
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Payload
from shared.runtime.log import InMemoryEventLog, Page

KEYS = ("a.jpg", "b.jpg", "c.mov", "d.png")
ETAGS = ("e1", "e2", "e3")

Op = tuple[str, int, int]  # (what, key index, etag index)
WRITES = ("received", "processed", "rejected", "duplicate", "unchanged", "deleted")
OPS = st.one_of(
    st.tuples(st.sampled_from(WRITES), st.integers(0, len(KEYS) - 1), st.integers(0, len(ETAGS) - 1)),
    st.tuples(st.sampled_from(("poll", "racing poll")), st.just(0), st.just(0)),
)


class Session:
    """One session's log, the writes made to it, and a client polling it with ``after_version``."""

    def __init__(self) -> None:
        self.sid = str(uuid.uuid4())
        self.log = RacingLog(self)
        self.n = 0
        self.client: dict[str, FileStatus] = {}
        self.version: int | None = None
        self.landing: list[Payload] = []  # writes that land during the next poll's reads

    def payload(self, what: str, k: int, e: int) -> Payload:
        self.n += 1
        name = KEYS[k]
        key = f"uploads/{self.sid}/{name}"
        # decisions claim their upload (one decision per write of its bytes): each decides a write of its own
        etag = ETAGS[e] if what == "received" else f"{ETAGS[e]}-{self.n}"
        ref = c.FileRef(bucket="b", key=key, name=name, size=10 + e, etag=etag)
        if what == "received":
            return c.UploadReceivedData(key=key, name=name, size=ref.size, etag=ref.etag)
        if what == "processed":  # bytes of their own each time: no duplicate-detection claim collides
            return c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256=f"s{self.n}")
        if what == "rejected":
            return c.FileRejectedData(file=ref, code="unsupported_type", message="no")
        if what == "duplicate":
            return c.FileDuplicateData(file=ref, sha256=f"s{self.n}", duplicate_of="uploads/x/y.jpg")
        if what == "unchanged":
            return c.FileUnchangedData(file=ref, sha256=f"s{self.n}")
        return c.FileDeletedData(key=key, reason="cleanup")

    async def write(self, payload: Payload) -> None:
        await self.log.commit([make_event(payload, source="shoebox/test", session_id=self.sid)])

    async def poll(self) -> None:
        snap = await (
            snapshot(self.log, self.sid)
            if self.version is None
            else changes(self.log, self.sid, self.version)
        )
        files, removed = listed(self.sid, snap)
        if snap.after is None:
            self.client = {}
        self.client.update({f.key: f for f in files})
        for key in removed:
            self.client.pop(key, None)
        self.version = snap.counters.version

    async def full(self) -> dict[str, FileStatus]:
        files, _ = listed(self.sid, await snapshot(self.log, self.sid))
        return {f.key: f for f in files}


class RacingLog(InMemoryEventLog):
    """The in-memory log, where the writes queued in ``session.landing`` commit while a poll reads the
    stream (between its first read of the counters and its items)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    async def read(self, session_id: str, *, after: int = 0, limit: int = 100) -> Page:
        page = await super().read(session_id, after=after, limit=limit)
        await self._land()
        return page

    async def query_views(self, pk: str, sk_prefix: str = "", *, type: Any = None) -> Any:
        items = await (
            super().query_views(pk, sk_prefix, type=type) if type else super().query_views(pk, sk_prefix)
        )
        await self._land()
        return items

    async def _land(self) -> None:
        landing, self.session.landing = self.session.landing, []
        for payload in landing:
            await self.session.write(payload)


async def run(ops: Sequence[Op]) -> None:
    s = Session()
    await s.write(c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="t")))
    await s.poll()
    for i, (what, k, e) in enumerate(ops):
        if what == "poll":
            await s.poll()
            assert s.client == await s.full(), f"after op {i}"
        elif what == "racing poll":
            s.landing = [
                s.payload("received", i % len(KEYS), 1),
                s.payload("processed", (i + 1) % len(KEYS), 2),
            ]
            await s.poll()
            await s.poll()  # what landed during the first is in the second
            assert s.client == await s.full(), f"after op {i}"
        else:
            await s.write(s.payload(what, k, e))
    await s.poll()
    assert s.client == await s.full()
    pending = {f.key for f in s.client.values() if f.status == "pending"}
    assert (await s.log.counters(s.sid)).pending == len(pending)


@pytest.mark.parametrize("max_keys", [changes_module.MAX_DELTA_KEYS, 2], ids=["deltas", "some-full"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, max_size=40))
def test_the_union_of_deltas_is_a_full_read(
    ops: list[Op], max_keys: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``some-full``: a client more than two files behind gets the whole session, and drops what it had."""
    monkeypatch.setattr(changes_module, "MAX_DELTA_KEYS", max_keys)
    anyio.run(run, ops)


def test_a_delta_reads_what_changed_not_the_session() -> None:
    """Two files changed in a session of fifty: the delta reads two events' items, not the fifty files."""

    async def scenario() -> None:
        s = Session()
        await s.write(c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="t")))
        for i in range(50):
            ref = c.FileRef(bucket="b", key=f"uploads/{s.sid}/{i}.jpg", name=f"{i}.jpg", size=1, etag="e")
            await s.write(c.FileRejectedData(file=ref, code="empty", message="empty"))
        await s.poll()
        assert len(s.client) == 50
        before = s.version
        await s.write(s.payload("received", 0, 0))
        await s.write(s.payload("rejected", 1, 0))
        snap = await changes(s.log, s.sid, before or 0)
        assert snap.after == before and snap.touched == {
            f"uploads/{s.sid}/{KEYS[0]}",
            f"uploads/{s.sid}/{KEYS[1]}",
        }
        files, removed = listed(s.sid, snap)
        assert [(f.name, f.status) for f in files] == [("a.jpg", "pending"), ("b.jpg", "rejected")]
        assert removed == [] and snap.counters.pending == 1

    anyio.run(scenario)
