"""Property tests for the enhancement job's read models: whatever endings are recorded for its items, in
any order, retried, redelivered or racing each other (a cancel and a result), the JOB view counts each item
once, its counters equal the folded ITEM# statuses, and folding the log again gives the same views."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.events.codec import make_event
from shared.events.envelope import Event, Payload
from shared.runtime import projections
from shared.runtime.enhancement_projections import COUNTER_OF
from shared.runtime.log import ClaimTaken, InMemoryEventLog
from shared.runtime.projections import ended_key, job_key, view_type
from shared.runtime.read_models import EnhancedItemView, ItemEndClaim, ItemStatus, JobView

SID = "3c1e0b52-7f8a-4e4a-8d0e-1b2c3d4e5f60"
JOB = "enh-1"
KEYS = [f"uploads/{SID}/{n}" for n in ("a.jpg", "b.jpg", "c.heic", "d.mov", "e.jpg")]
ENDINGS: list[ItemStatus] = ["enhanced", "failed", "cancelled", "skipped"]


def _ending(key: str, status: ItemStatus, attempt: int) -> Payload:
    if status == "enhanced":
        return c.PhotoEnhancedData(job_id=JOB, key=key, enhanced_key=f"enhanced/{attempt}.jpg")
    if status == "failed":
        return c.PhotoEnhanceFailedData(job_id=JOB, key=key, code="provider_error", message="no")
    if status == "cancelled":
        return en.ItemCancelledData(job_id=JOB, key=key)
    return en.ItemSkippedData(job_id=JOB, key=key, kind="video", reason="not deployed")


def _event(data: Payload) -> Event[Any]:
    return make_event(data, source="shoebox/test", session_id=SID)


#: (item index, what happens): an ending, a phase, or the same ending event delivered again
steps = st.lists(
    st.tuples(st.integers(0, len(KEYS) - 1), st.sampled_from([*ENDINGS, "phase", "again", "feedback"])),
    max_size=30,
)


async def _job(log: InMemoryEventLog) -> None:
    await log.commit([_event(c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="")))])
    await log.commit(
        [
            _event(en.EnhancementInitializedData(job_id=JOB, total=len(KEYS), photos=4, videos=1)),
            _event(c.EnhancementRequestedData(job_id=JOB, keys=KEYS, total=len(KEYS))),
        ]
    )
    await log.commit(
        [_event(c.PhotoEnhanceRequestedData(job_id=JOB, key=k, index=i)) for i, k in enumerate(KEYS)]
    )


@settings(max_examples=80, deadline=None)
@given(steps)
def test_every_item_is_counted_once_whatever_is_recorded(plan: list[tuple[int, str]]) -> None:
    async def run() -> None:
        log = InMemoryEventLog()
        await _job(log)
        first: dict[str, ItemStatus] = {}  # the ending that won each item
        last: dict[str, Event[Any]] = {}
        for n, (i, what) in enumerate(plan):
            key = KEYS[i]
            if what == "phase":
                data: Payload = c.PhotoEnhancePhaseData(job_id=JOB, key=key, phase="analysis", summary="s")
                await log.commit([_event(data)])
                continue
            if what == "feedback":
                fb = c.EnhancementFeedbackRequestedData(job_id=JOB, key=key, feedback="warmer", revision=n)
                await log.commit([_event(fb)])
                continue
            if what == "again":  # a redelivery: the same ending again, as a new event (a retried handler)
                if key not in last:
                    continue
                event = _event(last[key].data)
            else:
                event = _event(_ending(key, what, n))  # type: ignore[arg-type]
            try:
                await log.commit([event])
            except ClaimTaken:
                assert key in first  # only an item that ended already refuses an ending
                continue
            assert key not in first and what != "again"  # a redelivery always finds the item ended
            first[key] = what  # type: ignore[assignment]
            last[key] = event

        job = await log.get_view(job_key(SID, JOB), type=JobView)
        assert job is not None and job.total == len(KEYS)
        items = await log.query_views(f"SESSION#{SID}", f"ITEM#{JOB}#", type=EnhancedItemView)
        assert len(items) == len(KEYS)
        for status, counter in COUNTER_OF.items():
            folded = sum(it.status == status for it in items)
            assert getattr(job, counter) == folded == sum(s == status for s in first.values()), counter
        assert job.done + job.failed + job.cancelled + job.skipped <= len(KEYS)
        for it in items:
            key = it.sk.removeprefix(f"ITEM#{JOB}#")
            assert it.status == first.get(key, "queued")
            claim = await log.get_view(ended_key(SID, JOB, key), type=ItemEndClaim)
            assert (claim.status if claim else None) == first.get(key)

        before = await log.query_views(f"SESSION#{SID}")
        await log.clear_views(f"SESSION#{SID}")
        await log.rebuild_views(SID)
        assert await log.query_views(f"SESSION#{SID}") == before

    anyio.run(run)


def test_the_claim_is_its_own_read_model() -> None:
    assert view_type(ended_key("s", "j", "uploads/s/a.jpg")) is ItemEndClaim


@pytest.mark.parametrize(("v1", "status"), [(("done", 3, 0), "done"), (("partial", 2, 1), "partial")])
def test_a_v1_completion_reads_and_projects_as_v2(v1: tuple[str, int, int], status: str) -> None:
    from shared.events.codec import decode, encode

    old = _event(c.EnhancementCompletedData(job_id=JOB, status=v1[0], done=v1[1], failed=v1[2]))  # type: ignore[arg-type]
    new = decode(encode(old))
    assert isinstance(new, en.EnhancementCompleted)
    assert new.data == en.EnhancementCompletedV2Data(
        job_id=JOB,
        status=status,
        total=v1[1] + v1[2],
        done=v1[1],
        failed=v1[2],  # type: ignore[arg-type]
    )
    [job, _] = projections.view_updates(old)
    assert job.set["status"] == status


@pytest.mark.parametrize(
    ("counts", "cancel", "status"),
    [
        ((3, 3, 0, 0, 0), False, "done"),
        ((4, 3, 0, 0, 1), False, "done"),  # a skipped video is not a failure
        ((3, 2, 1, 0, 0), False, "partial"),
        ((3, 0, 3, 0, 0), False, "failed"),
        ((3, 0, 0, 0, 0), False, "failed"),  # the deadline passed with nothing done
        ((3, 1, 0, 2, 0), True, "cancelled"),
    ],
)
def test_completion_status(counts: tuple[int, int, int, int, int], cancel: bool, status: str) -> None:
    total, done, failed, cancelled, skipped = counts
    got = en.completion_status(
        total=total, done=done, failed=failed, cancelled=cancelled, skipped=skipped, cancel_requested=cancel
    )
    assert got == status
