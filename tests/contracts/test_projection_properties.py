"""Property tests for the read models: any sequence of decided writes to a session's files leaves the
counters equal to the files' latest decisions, and folding the log again gives the same read models."""

from __future__ import annotations

from typing import Any, Literal

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from services.media_process.handlers import replaced_upload  # what the handler says about each write
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event
from shared.runtime.log import InMemoryEventLog
from shared.runtime.projections import content_key, counters_key, file_key

SID = "7d1f1b36-2d7b-4c0e-9a51-2b1f0c7e6a10"
Decision = Literal["processed", "rejected", "duplicate"]
NAMES = ["a.jpg", "b.jpg", "c.mov", "d.heic"]
writes = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(["processed", "rejected", "duplicate"])), max_size=25
)


def _decision(i: int, ref: c.FileRef, decision: Decision) -> Event[Any]:
    data: Any
    if decision == "processed":
        data = c.FileProcessedData(
            file=ref,
            kind="photo",
            media_type="image/jpeg",
            sha256=f"sha-{i}",
            keys=c.DerivedKeys(thumbnail=f"thumbnails/{i}.jpg"),
        )
    elif decision == "rejected":
        data = c.FileRejectedData(file=ref, code="undecodable", message="no")
    else:
        data = c.FileDuplicateData(file=ref, sha256=f"sha-{i}", duplicate_of="uploads/x/other.jpg")
    return make_event(data, source="shoebox/test", session_id=SID)


@settings(max_examples=60, deadline=None)
@given(writes)
def test_counters_are_the_latest_decision_of_every_file(steps: list[tuple[str, Decision]]) -> None:
    async def run() -> None:
        log = InMemoryEventLog()
        latest: dict[str, tuple[Decision, int]] = {}
        for i, (name, decision) in enumerate(steps):
            key = f"uploads/{SID}/{name}"
            etag = f"etag-{i}"
            ref = c.FileRef(
                bucket="b",
                key=key,
                name=name,
                size=i,
                etag=etag,
                replaces=await replaced_upload(log, SID, key, etag),
            )
            await log.commit([_decision(i, ref, decision)])
            latest[key] = (decision, i)

        counters = await log.get_view(counters_key(SID)) or {}
        for status in ("processed", "rejected", "duplicate"):
            assert counters.get(status, 0) == sum(d == status for d, _ in latest.values()), status
        for key, (decision, i) in latest.items():
            item = await log.get_view(file_key(SID, key))
            assert item is not None and item["status"] == decision and item["etag"] == f"etag-{i}"
            assert (item["thumbnail"] is not None) == (decision == "processed")
        # a duplicate claim exists exactly for the bytes a file holds now
        claims = set()
        for j in range(len(steps)):
            if await log.get_view(content_key(SID, f"sha-{j}")) is not None:
                claims.add(f"sha-{j}")
        assert claims == {f"sha-{i}" for d, i in latest.values() if d == "processed"}

        before = await log.query_views(f"SESSION#{SID}")
        await log.clear_views(f"SESSION#{SID}")
        assert await log.rebuild_views(SID) == len(steps)
        assert await log.query_views(f"SESSION#{SID}") == before

    anyio.run(run)
