"""One contract, every event-log implementation: in memory and DynamoDB (on the emulator)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime import projections
from shared.runtime.attributes import to_item
from shared.runtime.aws import Clients
from shared.runtime.log import (
    AlreadyProcessed,
    ClaimTaken,
    DuplicateEvent,
    DynamoEventLog,
    EventLog,
    InMemoryEventLog,
    Tracking,
)
from shared.runtime.projections import content_key, counters_key, file_key, job_key, meta_key, session_pk
from shared.runtime.read_models import (
    ContentClaim,
    CountersView,
    DecisionClaim,
    EnhancedItemView,
    FeedbackTurnView,
    FileView,
    ItemEndClaim,
    JobView,
    MetaView,
    ViewShapeError,
    decode,
)
from shared.runtime.views import ViewExpectation, ViewKey, ViewUpdate, apply, merge
from tests.support.stack import RunningStack

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.stack)])
async def log(request: pytest.FixtureRequest) -> AsyncIterator[EventLog]:
    if request.param == "memory":
        yield InMemoryEventLog()
        return
    stack: RunningStack = request.getfixturevalue("emulator_only")
    names = stack.settings.names
    async with Clients(stack.settings) as clients:
        yield DynamoEventLog(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)


def processed(sid: str, name: str, *, event_id: str | None = None) -> c.FileProcessed:
    ref = c.FileRef(bucket="b", key=f"uploads/{sid}/{name}", name=name, size=10, etag="e")
    e = make_event(
        c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256=name * 2),
        source="shoebox/test",
        session_id=sid,
        event_id=event_id,
    )
    assert isinstance(e, c.FileProcessed)
    return e


async def test_append_assigns_increasing_sequences_and_reads_back_in_order(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    for i in range(5):
        await log.commit([processed(sid, f"f{i}.jpg")])
    events = await log.read_all(sid)
    assert [e.data.file.name for e in events] == [f"f{i}.jpg" for i in range(5)]
    seqs = [e.sequence for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


async def test_one_event_id_is_written_at_most_once(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    e = processed(sid, "a.jpg")
    await log.commit([e])
    with pytest.raises(DuplicateEvent):
        await log.commit([processed(sid, "b.jpg", event_id=e.id)])
    assert len(await log.read_all(sid)) == 1
    assert (await log.counters(sid)).processed == 1


async def test_a_tracked_message_produces_nothing_the_second_time(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    t = Tracking("media_process", f"s3:b/uploads/{sid}/a.jpg@etag")
    await log.commit([processed(sid, "a.jpg")], tracking=t)
    assert await log.is_processed(t)
    with pytest.raises(AlreadyProcessed):
        await log.commit([processed(sid, "a.jpg")], tracking=t)  # a fresh id: only the tracking stops it
    assert len(await log.read_all(sid)) == 1
    assert (await log.counters(sid)).processed == 1


async def test_32_concurrent_appenders_on_one_stream_lose_nothing(log: EventLog) -> None:
    sid = str(uuid.uuid4())

    async def appender(i: int) -> None:
        for j in range(4):
            await log.commit([processed(sid, f"a{i}-{j}.jpg")], tracking=Tracking("t", f"{sid}/{i}/{j}"))

    async with anyio.create_task_group() as tg:
        for i in range(32):
            tg.start_soon(appender, i)
    events = await log.read_all(sid, page_size=50)
    assert len(events) == 128
    assert len({e.sequence for e in events}) == 128
    assert (await log.counters(sid)).processed == 128


class HoldingTransaction:
    """A DynamoDB client whose first ``transact_write_items`` waits for ``release``."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, 0
        self.waiting, self.release, self.landed = anyio.Event(), anyio.Event(), anyio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def transact_write_items(self, **kw: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.waiting.set()
            await self.release.wait()
        r = await self.client.transact_write_items(**kw)
        self.landed.set()
        return r


@pytest.mark.stack
async def test_a_commit_overtaken_by_a_later_reserved_one_lands_after_it_in_sequence(
    emulator_only: RunningStack,
) -> None:
    """Commits to a stream land in sequence order, so whatever a reader saw at ``COUNTERS.version`` V, no
    event at or below V lands afterwards (the API's delta polls rest on it): the commit that reserved first
    but was overtaken reserves again, and lands with the higher sequence. Fails when the commit does not
    hold the order condition (it lands below the version a reader may have seen already)."""
    names = emulator_only.settings.names
    async with Clients(emulator_only.settings) as clients:
        log = DynamoEventLog.of(clients)
        holding = HoldingTransaction(clients.dynamodb)
        first = DynamoEventLog(holding, events_table=names.events_table, views_table=names.views_table)
        sid = str(uuid.uuid4())
        landed: dict[str, int] = {}

        async def commit(on: EventLog, name: str) -> None:
            [e] = await on.commit([processed(sid, name)])
            landed[name] = e.sequence

        async with anyio.create_task_group() as tg:
            tg.start_soon(commit, first, "first.jpg")
            await holding.waiting.wait()  # reserved, waits to commit
            await commit(log, "second.jpg")  # reserves after it, lands before it
            holding.release.set()
        assert landed["first.jpg"] > landed["second.jpg"]
        assert [e.data.file.name for e in await log.read_all(sid)] == ["second.jpg", "first.jpg"]
        assert (await log.counters(sid)).version == landed["first.jpg"]


@pytest.mark.stack
async def test_the_pending_count_holds_when_an_upload_is_recorded_while_its_decision_commits(
    emulator_only: RunningStack,
) -> None:
    """``COUNTERS.pending`` is the number of ``PENDING#`` items. The api's ``upload.received`` reserved its
    sequence first; the decision reserved after it and read the key as not pending; then the record landed,
    then the decision's transaction (in sequence order, so no order condition stops it). The decision
    expects the pending item as it read it, so it reads again and counts the removal. Fails (pending 1,
    no item) when the commit does not expect the pending items it counted."""
    names = emulator_only.settings.names
    async with Clients(emulator_only.settings) as clients:

        def holding_log() -> tuple[DynamoEventLog, HoldingTransaction]:
            client = HoldingTransaction(clients.dynamodb)
            log = DynamoEventLog(client, events_table=names.events_table, views_table=names.views_table)
            return log, client

        (recording, r), (deciding, d) = holding_log(), holding_log()
        sid = str(uuid.uuid4())
        received = c.UploadReceivedData(key=f"uploads/{sid}/a.jpg", name="a.jpg", size=10, etag="e")
        async with anyio.create_task_group() as tg:
            tg.start_soon(recording.commit, [make_event(received, source="shoebox/api", session_id=sid)])
            await r.waiting.wait()  # reserved, counted +1, waits to commit
            tg.start_soon(deciding.commit, [processed(sid, "a.jpg")])
            await d.waiting.wait()  # reserved after it, read PENDING# (none yet), waits to commit
            r.release.set()
            await r.landed.wait()
            assert (await recording.counters(sid)).pending == 1
            d.release.set()
        assert d.calls > 1  # the decision's first transaction was refused: it read again
        assert await recording.query_views(session_pk(sid), "PENDING#") == []
        assert (await recording.counters(sid)).pending == 0
        assert projections.fold(await recording.read_all(sid))[counters_key(sid)]["pending"] == 0


async def test_a_commit_expecting_items_at_the_versions_read_writes_nothing_if_one_moved(
    log: EventLog,
) -> None:
    """``ViewExpectation``: on an item the commit writes and on one it does not, at 0 (absent) or at the
    version read; one that moved on is ``ClaimTaken`` and nothing of the commit is written."""
    sid = str(uuid.uuid4())
    first = (await log.commit([processed(sid, "a.jpg")]))[0]
    a, b = file_key(sid, f"uploads/{sid}/a.jpg"), file_key(sid, f"uploads/{sid}/b.jpg")
    stale = [ViewExpectation(a, first.sequence - 1)]
    for expect in (stale, [ViewExpectation(b, 5)], [ViewExpectation(counters_key(sid), 0)]):
        with pytest.raises(ClaimTaken):
            await log.commit([processed(sid, "b.jpg")], expect=expect)
        with pytest.raises(ClaimTaken):  # an expectation on an item the commit writes
            await log.commit([processed(sid, "a.jpg", event_id=str(uuid.uuid4()))], expect=expect)
    assert [e.data.file.name for e in await log.read_all(sid)] == ["a.jpg"]
    assert await log.get_view(b, type=FileView) is None
    [second] = await log.commit(
        [processed(sid, "b.jpg")], expect=[ViewExpectation(a, first.sequence), ViewExpectation(b, 0)]
    )
    assert (await log.get_view(b, type=FileView)) is not None
    assert (await log.counters(sid)).version == second.sequence


async def test_the_events_between_two_versions_are_read_in_order(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    committed = [e for i in range(6) for e in await log.commit([processed(sid, f"f{i}.jpg")])]
    first, last = committed[1].sequence, committed[4].sequence
    between = await log.read_between(sid, first, last)
    assert [e.data.file.name for e in between] == ["f2.jpg", "f3.jpg", "f4.jpg"]
    assert await log.read_between(sid, last + 10, last + 12) == []


async def test_reading_is_paged(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    for i in range(7):
        await log.commit([processed(sid, f"p{i}.jpg")])
    page = await log.read(sid, after=0, limit=3)
    assert len(page.events) == 3 and page.next_after is not None
    names = [e.data.file.name for e in page.events]
    while page.next_after is not None:
        page = await log.read(sid, after=page.next_after, limit=3)
        names += [e.data.file.name for e in page.events]
    assert names == [f"p{i}.jpg" for i in range(7)]


async def test_read_models_rebuild_from_the_log_to_the_same_state(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    created = make_event(
        c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="Kyoto")), source="t", session_id=sid
    )
    init = make_event(c.TriageInitializedData(job_id="j1", expected=3), source="t", session_id=sid)
    await log.commit([created, init])
    await log.commit([processed(sid, "a.jpg"), processed(sid, "b.jpg")])
    ref = c.FileRef(bucket="b", key=f"uploads/{sid}/c.txt", name="c.txt", size=1, etag="e")
    await log.commit(
        [
            make_event(
                c.FileRejectedData(file=ref, code="unsupported_type", message="no"),
                source="t",
                session_id=sid,
            )
        ]
    )
    before = await log.query_views(f"SESSION#{sid}")
    counters = await log.counters(sid)
    assert (counters.expected, counters.processed, counters.rejected) == (3, 2, 1)
    await log.clear_views(f"SESSION#{sid}")
    assert await log.get_view(file_key(sid, ref.key), type=FileView) is None
    folded = await log.rebuild_views(sid)
    assert folded == 5
    after = await log.query_views(f"SESSION#{sid}")
    assert after == before


async def test_an_old_version_in_the_log_is_read_as_the_current_one(log: EventLog) -> None:
    """Yesterday's code wrote session.created v1; today's reads v2."""
    sid = str(uuid.uuid4())
    old = make_event(c.SessionCreatedV1Data(owner="u", context="Lisbon in May"), source="t", session_id=sid)
    await log.commit([old])
    [event] = await log.read_all(sid)
    assert isinstance(event, c.SessionCreatedV2)
    assert event.data.trip.context == "Lisbon in May" and event.id == old.id


async def test_a_replaced_upload_is_counted_once_as_its_newest_decision(log: EventLog) -> None:
    """Same name, other bytes: the key moves from the old decision's counter to the new one, the file's
    read model holds nothing of the old upload, and the old bytes' duplicate claim is released."""
    sid = str(uuid.uuid4())
    key = f"uploads/{sid}/a.jpg"
    first = processed(sid, "a.jpg")  # etag "e", sha "a.jpga.jpg"
    first = msgspec.structs.replace(
        first, data=msgspec.structs.replace(first.data, keys=c.DerivedKeys(thumbnail="thumbnails/x.jpg"))
    )
    await log.commit([first])
    assert await log.get_view(content_key(sid, "a.jpga.jpg"), type=ContentClaim) is not None

    wrong = c.FileRef(
        bucket="b",
        key=key,
        name="a.jpg",
        size=3,
        etag="e2",
        replaces=c.Replaced(etag="e", status="processed", sha256="a.jpga.jpg"),
    )
    await log.commit(
        [
            make_event(
                c.FileRejectedData(file=wrong, code="unsupported_type", message="text"),
                source="t",
                session_id=sid,
            )
        ]
    )
    counters = await log.counters(sid)
    assert (counters.processed, counters.rejected) == (0, 1)
    item = await log.get_view(file_key(sid, key), type=FileView)
    assert item is not None
    assert (item.status, item.etag, item.code) == ("rejected", "e2", "unsupported_type")
    assert item.thumbnail is None and item.sha256 is None
    assert await log.get_view(content_key(sid, "a.jpga.jpg"), type=ContentClaim) is None  # released

    again = msgspec.structs.replace(
        first,
        id=str(uuid.uuid4()),
        data=msgspec.structs.replace(
            first.data,
            file=c.FileRef(
                bucket="b",
                key=key,
                name="a.jpg",
                size=10,
                etag="e3",
                replaces=c.Replaced(etag="e2", status="rejected"),
            ),
        ),
    )
    await log.commit([again])  # the old bytes back: claimed again
    counters = await log.counters(sid)
    assert (counters.processed, counters.rejected) == (1, 0)
    claim = await log.get_view(content_key(sid, "a.jpga.jpg"), type=ContentClaim)
    assert claim is not None and claim.key == key

    before = await log.query_views(f"SESSION#{sid}")
    await log.clear_views(f"SESSION#{sid}")
    assert await log.rebuild_views(sid) == 3
    assert await log.query_views(f"SESSION#{sid}") == before


def test_a_deleted_view_cannot_also_change_in_the_same_commit() -> None:
    k = content_key("s", "h")
    assert merge([ViewUpdate(key=k, delete=True), ViewUpdate(key=k, delete=True)]) == [
        ViewUpdate(key=k, delete=True)
    ]
    with pytest.raises(ValueError, match="deleted and changed"):
        merge([ViewUpdate(key=k, delete=True), ViewUpdate(key=k, set={"key": "x"})])
    assert apply({"pk": k.pk, "sk": k.sk, "key": "x"}, ViewUpdate(key=k, delete=True)) is None


# --------------------------------------------------------------------------- typed read models
async def _lifecycle(log: EventLog, sid: str) -> list[Any]:
    """A session through every kind of read model: created, triaged (one file processed, one rejected,
    one duplicate, one deleted), finalized, requested, completed, and an enhancement job."""
    key = f"uploads/{sid}/a.jpg"

    def ref(name: str, etag: str = "e") -> c.FileRef:
        return c.FileRef(bucket="b", key=f"uploads/{sid}/{name}", name=name, size=10, etag=etag)

    def ev(data: Any) -> Any:
        return make_event(data, source="t", session_id=sid)

    deadline = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    events = [
        ev(c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="Kyoto", timezone="Asia/Tokyo"))),
        ev(c.TriageInitializedData(job_id="j1", expected=4, model="m")),
        ev(
            c.FileProcessedData(
                file=ref("a.jpg"),
                kind="photo",
                media_type="image/jpeg",
                sha256="ab",
                metadata=c.MediaMetadata(captured_at=dt.datetime(2024, 5, 1, 10, 0)),
                keys=c.DerivedKeys(thumbnail="thumbnails/a.jpg"),
            )
        ),
        ev(c.FileRejectedData(file=ref("b.txt"), code="unsupported_type", message="no")),
        ev(c.FileDuplicateData(file=ref("c.jpg"), sha256="ab", duplicate_of=key)),
        ev(c.FileDeletedData(key=f"uploads/{sid}/c.jpg", reason="confirmed", etag="e")),
        ev(c.UploadFinalizedData(job_id="j1", uploaded=3, failed=["d.jpg"], deadline=deadline)),
        ev(c.TriageRequestedData(job_id="j1", attempt=1, expected=3, processed=1, rejected=1, duplicate=1)),
        ev(
            c.TriageCompletedData(
                job_id="j1", attempt=1, keep=1, discard=0, results_key="results/j1.json", provider="p"
            )
        ),
        ev(c.EnhancementRequestedData(job_id="e1", keys=[key])),
        ev(c.PhotoEnhancedData(job_id="e1", key=key, enhanced_key="enhanced/a.jpg")),
        ev(c.EnhancementCompletedData(job_id="e1", status="done", done=1, failed=0)),
    ]
    for e in events:
        await log.commit([e])
    return events


async def test_read_models_are_read_as_their_structs(log: EventLog) -> None:
    """Both logs give the same Struct values: these, and exactly what folding the log gives. Each item's
    ``version`` is the sequence of the event that wrote it last (one event a commit here: its position)."""
    sid = str(uuid.uuid4())
    events = await _lifecycle(log, sid)
    pk = session_pk(sid)
    key = f"uploads/{sid}/a.jpg"
    assert await log.counters(sid) == CountersView(
        pk=pk,
        sk="COUNTERS",
        expected=3,
        processed=1,
        rejected=1,
        duplicate=1,
        deleted=1,
        version=len(events),
        finalized=True,
        job_id="j1",
        deadline="2030-01-02T03:04:05+00:00",
        upload_failed=["d.jpg"],
        updated_at=events[4].time.isoformat(),
    )
    assert await log.get_view(meta_key(sid), type=MetaView) == MetaView(
        pk=pk,
        sk="META",
        version=1,
        owner="u",
        context="Kyoto",
        timezone="Asia/Tokyo",
        created_at=events[0].time.isoformat(),
    )
    assert await log.get_view(file_key(sid, key), type=FileView) == FileView(
        pk=pk,
        sk=f"FILE#{key}",
        version=3,
        status="processed",
        event_id=events[2].id,
        name="a.jpg",
        size=10,
        etag="e",
        kind="photo",
        media_type="image/jpeg",
        sha256="ab",
        thumbnail="thumbnails/a.jpg",
        captured_at="2024-05-01T10:00:00",
    )
    assert await log.get_view(job_key(sid, "j1"), type=JobView) == JobView(
        pk=pk,
        sk="JOB#j1",
        version=9,
        kind="triage",
        status="complete",
        model="m",
        created_at=events[1].time.isoformat(),
        attempt=1,
        result_attempt=1,
        keep=1,
        discard=0,
        results_key="results/j1.json",
        provider="p",
    )
    assert await log.get_view(content_key(sid, "ab"), type=ContentClaim) == ContentClaim(
        pk=pk, sk="HASH#ab", version=3, key=key
    )
    # each decided upload's claim, but the deleted one's (released)
    claims = await log.query_views(pk, "DECIDED#", type=DecisionClaim)
    assert [(d.key, d.etag) for d in claims] == [(key, "e"), (f"uploads/{sid}/b.txt", "e")]
    [item] = await log.query_views(pk, "ITEM#", type=EnhancedItemView)
    assert item == EnhancedItemView(
        pk=pk,
        sk=f"ITEM#e1#{key}",
        version=11,
        status="enhanced",
        enhanced_key="enhanced/a.jpg",
        thumbnail=None,
    )
    files = await log.query_views(pk, "FILE#", type=FileView)
    assert [(f.key, f.status, f.deleted) for f in files] == [
        (key, "processed", False),
        (f"uploads/{sid}/b.txt", "rejected", False),
        (f"uploads/{sid}/c.jpg", "duplicate", True),
    ]
    folded = projections.fold(await log.read_all(sid))
    expected = [decode(folded[k], projections.view_type(k)) for k in sorted(folded)]
    assert await log.query_views(pk) == expected
    assert {type(v) for v in expected} == {
        MetaView,
        CountersView,
        FileView,
        JobView,
        ContentClaim,
        DecisionClaim,
        EnhancedItemView,
        ItemEndClaim,
        FeedbackTurnView,  # the enhanced item's history: its first turn
    }


async def test_a_read_model_asked_for_as_another_kind_is_a_type_error(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    await log.commit([processed(sid, "a.jpg")])
    with pytest.raises(TypeError, match="CountersView, not a FileView"):
        await log.get_view(counters_key(sid), type=FileView)
    with pytest.raises(TypeError, match="not a FileView"):
        await log.query_views(session_pk(sid), type=FileView)  # COUNTERS and HASH# are there too


async def _store_raw(log: EventLog, key: ViewKey, item: dict[str, Any] | None) -> None:
    """Overwrite (or delete) a stored item behind the log's back: a hand edit, or an older projection."""
    if isinstance(log, InMemoryEventLog):
        if item is None:
            log.stored_views.pop(key, None)
        else:
            log.stored_views[key] = {"pk": key.pk, "sk": key.sk, **item}
        return
    assert isinstance(log, DynamoEventLog)
    raw = {"pk": {"S": key.pk}, "sk": {"S": key.sk}}
    if item is None:
        await log.client.delete_item(TableName=log.views_table, Key=raw)
    else:
        await log.client.put_item(TableName=log.views_table, Item={**raw, **to_item(item)})


async def test_a_corrupted_or_deleted_read_model_is_rebuilt_to_the_incremental_result(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    await _lifecycle(log, sid)
    pk = session_pk(sid)
    incremental = await log.query_views(pk)
    a = file_key(sid, f"uploads/{sid}/a.jpg")

    await _store_raw(log, counters_key(sid), {"processed": "many", "version": 3})  # a retyped field
    await _store_raw(log, a, None)  # lost
    await _store_raw(log, job_key(sid, "j1"), {"kind": "triage", "status": "complete", "gaps": "x"})
    await _store_raw(log, content_key(sid, "zz"), {"key": "uploads/nowhere"})  # no event made it
    with pytest.raises(ViewShapeError, match="COUNTERS is not a CountersView"):
        await log.counters(sid)
    with pytest.raises(ViewShapeError, match=f"shoebox rebuild-views {sid}$"):
        await log.query_views(pk)
    assert await log.get_view(a, type=FileView) is None

    assert await log.rebuild_views(sid) == 12
    assert await log.query_views(pk) == incremental
    # and the incremental updates go on from the rebuilt items
    await log.commit([processed(sid, "z.jpg")])
    assert (await log.counters(sid)).processed == 2


async def test_every_session_is_listed_across_pages(log: EventLog) -> None:
    sids = sorted(str(uuid.uuid4()) for _ in range(5))
    for sid in sids:
        await log.commit([processed(sid, "a.jpg")])
    listed = await log.session_ids(page_size=2)  # several pages: the emulator's table holds more
    assert set(sids) <= set(listed)
    assert listed == sorted(set(listed))


async def test_many_read_models_are_read_by_key_in_batches(log: EventLog) -> None:
    """``get_views`` answers what ``get_view`` answers for each key, leaving out the missing ones, past one
    BatchGetItem's 100 keys."""
    sid = str(uuid.uuid4())
    names = [f"p{i:03}.jpg" for i in range(130)]
    for chunk in range(0, len(names), 10):
        await log.commit([processed(sid, n, event_id=f"e-{n}") for n in names[chunk : chunk + 10]])
    keys = [file_key(sid, f"uploads/{sid}/{n}") for n in names] + [file_key(sid, f"uploads/{sid}/none.jpg")]
    got = await log.get_views(keys, type=FileView)
    one_by_one = [await log.get_view(k, type=FileView) for k in keys]
    assert sorted(got, key=lambda f: f.sk) == sorted(
        (f for f in one_by_one if f is not None), key=lambda f: f.sk
    )
    assert len(got) == len(names)
