"""One contract, every event-log implementation: in memory and DynamoDB (on the emulator)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import msgspec
import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.aws import Clients
from shared.runtime.log import (
    AlreadyProcessed,
    DuplicateEvent,
    DynamoEventLog,
    EventLog,
    InMemoryEventLog,
    Tracking,
)
from shared.runtime.projections import content_key, counters_key, file_key
from shared.runtime.views import ViewUpdate, apply, merge
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
    counters = await log.get_view(counters_key(sid))
    assert counters is not None and counters["processed"] == 1


async def test_a_tracked_message_produces_nothing_the_second_time(log: EventLog) -> None:
    sid = str(uuid.uuid4())
    t = Tracking("media_process", f"s3:b/uploads/{sid}/a.jpg@etag")
    await log.commit([processed(sid, "a.jpg")], tracking=t)
    assert await log.is_processed(t)
    with pytest.raises(AlreadyProcessed):
        await log.commit([processed(sid, "a.jpg")], tracking=t)  # a fresh id: only the tracking stops it
    assert len(await log.read_all(sid)) == 1
    counters = await log.get_view(counters_key(sid))
    assert counters is not None and counters["processed"] == 1


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
    counters = await log.get_view(counters_key(sid))
    assert counters is not None and counters["processed"] == 128


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
    counters = await log.get_view(counters_key(sid))
    assert counters is not None
    assert (counters["expected"], counters["processed"], counters["rejected"]) == (3, 2, 1)
    await log.clear_views(f"SESSION#{sid}")
    assert await log.get_view(file_key(sid, ref.key)) is None
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
    assert await log.get_view(content_key(sid, "a.jpga.jpg")) is not None

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
    counters = await log.get_view(counters_key(sid))
    assert counters is not None and (counters["processed"], counters["rejected"]) == (0, 1)
    item = await log.get_view(file_key(sid, key))
    assert item is not None
    assert (item["status"], item["etag"], item["code"]) == ("rejected", "e2", "unsupported_type")
    assert item.get("thumbnail") is None and item.get("sha256") is None
    assert await log.get_view(content_key(sid, "a.jpga.jpg")) is None  # released

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
    counters = await log.get_view(counters_key(sid))
    assert counters is not None and (counters["processed"], counters["rejected"]) == (1, 0)
    claim = await log.get_view(content_key(sid, "a.jpga.jpg"))
    assert claim is not None and claim["key"] == key

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
