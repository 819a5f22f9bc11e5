"""Property tests for the read models: any sequence of decided writes to a session's files leaves the
counters equal to the files' latest decisions, and folding the log again gives the same read models; and
every projection writes only the fields, and the types, its read model's Struct declares."""

from __future__ import annotations

from typing import Any, Literal

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.media_process.handlers import replaced_upload  # what the handler says about each write
from shared.events import catalogue as c
from shared.events.codec import CATALOGUE, make_event
from shared.events.envelope import Event
from shared.runtime import projections
from shared.runtime.log import InMemoryEventLog
from shared.runtime.projections import (
    check,
    content_key,
    counters_key,
    decision_key,
    enhanced_item_key,
    file_key,
    job_key,
    meta_key,
    view_type,
)
from shared.runtime.read_models import (
    RELAY_PK,
    ContentClaim,
    CountersView,
    DecisionClaim,
    EnhancedItemView,
    FileView,
    JobView,
    MetaView,
    RelayCheckpoint,
    ViewShapeError,
    decode,
)
from shared.runtime.views import ViewKey, ViewUpdate
from tests.support.strategies import events

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

        counters = await log.counters(SID)
        for status in ("processed", "rejected", "duplicate"):
            assert getattr(counters, status) == sum(d == status for d, _ in latest.values()), status
        for key, (decision, i) in latest.items():
            item = await log.get_view(file_key(SID, key), type=FileView)
            assert item is not None and item.status == decision and item.etag == f"etag-{i}"
            assert (item.thumbnail is not None) == (decision == "processed")
        # a duplicate claim exists exactly for the bytes a file holds now
        claims = set()
        for j in range(len(steps)):
            if await log.get_view(content_key(SID, f"sha-{j}"), type=ContentClaim) is not None:
                claims.add(f"sha-{j}")
        assert claims == {f"sha-{i}" for d, i in latest.values() if d == "processed"}

        before = await log.query_views(f"SESSION#{SID}")
        await log.clear_views(f"SESSION#{SID}")
        assert await log.rebuild_views(SID) == len(steps)
        assert await log.query_views(f"SESSION#{SID}") == before

    anyio.run(run)


# --------------------------------------------------------------------------- the Structs hold what is written
CURRENT = [cls for cls in CATALOGUE.events if CATALOGUE.is_current(cls)]
SHAPES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("cls", CURRENT, ids=lambda cls: cls.type_name())
@SHAPES
@given(data=st.data())
def test_every_projection_writes_only_what_its_struct_declares(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    for update in projections.view_updates(data.draw(events(cls))):
        check(update)


def _in_one_session(event: Event[Any]) -> Event[Any]:
    return msgspec.structs.replace(event, sessionid=SID)


@SHAPES
@given(st.lists(st.sampled_from(CURRENT).flatmap(events).map(_in_one_session), max_size=12))
def test_any_stream_folds_into_items_that_decode_as_their_structs(stream: list[Event[Any]]) -> None:
    for key, item in projections.fold(stream).items():
        assert key.pk == f"SESSION#{SID}"
        decode(item, view_type(key))


def test_every_key_names_its_struct() -> None:
    assert view_type(meta_key("s")) is MetaView
    assert view_type(counters_key("s")) is CountersView
    assert view_type(file_key("s", "uploads/s/META")) is FileView
    assert view_type(job_key("s", "j")) is JobView
    assert view_type(content_key("s", "ab")) is ContentClaim
    assert view_type(decision_key("s", "uploads/s/a.jpg", "e1")) is DecisionClaim
    assert view_type(enhanced_item_key("s", "j", "uploads/s/a.jpg")) is EnhancedItemView
    assert view_type(ViewKey(RELAY_PK, "shard-1")) is RelayCheckpoint
    with pytest.raises(ViewShapeError, match="no read model"):
        view_type(ViewKey("SESSION#s", "OTHER"))


@pytest.mark.parametrize(
    ("update", "why"),
    [
        (ViewUpdate(key=counters_key("s"), set={"processd": 1}), "has no field"),
        (ViewUpdate(key=counters_key("s"), set={"finalized": "yes"}), "finalized cannot hold"),
        (ViewUpdate(key=counters_key("s"), add={"job_id": 1}), "job_id cannot hold"),
        (ViewUpdate(key=file_key("s", "k"), set={"status": "pending"}), "status cannot hold"),
        (ViewUpdate(key=job_key("s", "j"), set_if_absent={"gaps": [1]}), "gaps cannot hold"),
        (ViewUpdate(key=ViewKey("SESSION#s", "OTHER"), set={"x": 1}), "no read model"),
    ],
)
def test_a_write_its_struct_does_not_declare_is_refused(update: ViewUpdate, why: str) -> None:
    with pytest.raises(ViewShapeError, match=why):
        check(update)


def test_a_deletion_and_partial_writes_pass() -> None:
    check(ViewUpdate(key=content_key("s", "ab"), delete=True))
    check(ViewUpdate(key=meta_key("s"), set={"context": "x"}))  # owner is required of an item, not a write
    check(ViewUpdate(key=counters_key("s"), add={"processed": -1}, set={"upload_failed": ["a"]}))
