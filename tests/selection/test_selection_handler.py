"""``handle_selection_requested`` on an in-memory log and store, and the offline selection on synthetic
signals: triage discards excluded, every processed file exactly once, bursts, scenes, counts, repairs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from services.selection import handlers, results, selection_handler
from services.selection.offline_selection import OfflineSelection
from services.selection.selection_handler import Deps
from services.selection.selection_provider import SelectionAnswer, SelectionError, SelectionItem
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event, Payload
from shared.events.selection_results import Exclusion, Pick
from shared.runtime.log import InMemoryEventLog
from shared.runtime.storage import InMemoryObjectStore

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2024, 5, 3, 10, 0, 0)
KYOTO = c.GeoPoint(lat=35.0116, lon=135.7681)
NARA = c.GeoPoint(lat=34.6851, lon=135.8048)


def signals(sharpness: float = 0.3, phash: str = "0f0f0f0f0f0f0f0f") -> c.PhotoSignals:
    return c.PhotoSignals(
        sharpness=sharpness,
        exposure_mean=0.45,
        shadows_clipped=0.0,
        highlights_clipped=0.01,
        colour_cast=4.0,
        phash=phash,
    )


class Session:
    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.log = InMemoryEventLog()
        self.store = InMemoryObjectStore()

    async def append(self, payload: Payload, source: str = "shoebox/media_process") -> Event[Any]:
        [event] = await self.log.commit([make_event(payload, source=source, session_id=self.id)])
        return event

    def key(self, name: str) -> str:
        return f"uploads/{self.id}/{name}"

    async def processed(
        self, name: str, photo: c.PhotoSignals, at: dt.datetime | None, gps: c.GeoPoint | None = None
    ) -> None:
        ref = c.FileRef(bucket="test", key=self.key(name), name=name, size=100, etag="e1")
        await self.append(
            c.FileProcessedData(
                file=ref,
                kind="photo",
                media_type="image/jpeg",
                sha256=uuid.uuid4().hex,
                metadata=c.MediaMetadata(captured_at=at, gps=gps, width=4000, height=3000),
                photo=photo,
            )
        )

    async def triaged(self, discard: Sequence[str]) -> None:
        """A completed triage of every processed file: ``discard`` discarded, the rest kept."""
        views = [e for e in await self.log.read_all(self.id) if isinstance(e, c.FileProcessed)]
        verdicts = [
            c.Verdict(
                key=e.data.file.key,
                verdict="discard" if e.data.file.name in discard else "keep",
                reason="Blurred beyond recognition." if e.data.file.name in discard else "Fine.",
                confidence=0.9,
            )
            for e in views
        ]
        out = results.TriageResults(job_id="t1", attempt=1, provider="offline", verdicts=verdicts)
        key = results.results_key(self.id, "t1", 1)
        await self.store.put(key, results.encode(out), results.CONTENT_TYPE)
        keep = sum(v.verdict == "keep" for v in verdicts)
        await self.append(
            c.TriageCompletedData(
                job_id="t1",
                attempt=1,
                keep=keep,
                discard=len(verdicts) - keep,
                results_key=key,
                provider="offline",
            ),
            source="shoebox/selection",
        )

    def request(self, count: int | None, attempt: int = 1) -> c.SelectionRequested:
        data = c.SelectionRequestedData(
            job_id="sel-1", context="Kyoto and Nara", count=count, attempt=attempt
        )
        event = make_event(data, source="shoebox/api", session_id=self.id)
        assert isinstance(event, c.SelectionRequested)
        return event

    def deps(self, provider: Any = None) -> Deps:
        return Deps(store=self.store, log=self.log, provider=provider or OfflineSelection())


async def two_scenes_with_a_burst(s: Session) -> None:
    """Kyoto at 10:00: a burst of three (b2 sharpest) and a different view; Nara at 15:00: two shots;
    plus a blurred one triage discards."""
    await s.processed("b1.jpg", signals(0.05, "0f0f0f0f0f0f0f0f"), T0, KYOTO)
    await s.processed("b2.jpg", signals(0.40, "0f0f0f0f0f0f0f0e"), T0 + dt.timedelta(seconds=1), KYOTO)
    await s.processed("b3.jpg", signals(0.08, "0f0f0f0f0f0f0f1f"), T0 + dt.timedelta(seconds=2), KYOTO)
    await s.processed("temple.jpg", signals(0.20, "f0f0f0f0f0f0f0f0"), T0 + dt.timedelta(minutes=20), KYOTO)
    await s.processed("deer.jpg", signals(0.30, "aaaaaaaaaaaaaaaa"), T0 + dt.timedelta(hours=5), NARA)
    await s.processed(
        "park.jpg", signals(0.10, "5555555555555555"), T0 + dt.timedelta(hours=5, minutes=9), NARA
    )
    await s.processed("blur.jpg", signals(0.001, "ffff0000ffff0000"), T0 + dt.timedelta(hours=6), NARA)
    await s.triaged(discard=["blur.jpg"])


async def test_a_selection_covers_every_processed_file_once_and_picks_across_scenes() -> None:
    s = Session()
    await two_scenes_with_a_burst(s)

    [out] = await handlers.handle_selection_requested(s.request(count=2), s.deps())

    assert isinstance(out, c.SelectionCompletedData)
    assert out.results_key == f"results/{s.id}/selection-sel-1-1.json"
    assert (out.selected, out.excluded, out.scenes, out.provider) == (2, 5, 2, "offline")
    data, content_type = s.store.objects[out.results_key]
    written = selection_handler.decode(data)
    assert content_type == "application/json"
    picks = [p.name for p in written.selected]
    assert sorted(picks) == ["b2.jpg", "deer.jpg"]  # the best of each scene; the burst's sharpest
    assert [p.rank for p in written.selected] == [1, 2]
    assert {p.scene for p in written.selected} == {"s1", "s2"}
    why = {e.name: (e.category, e.duplicate_of) for e in written.excluded}
    assert why == {
        "b1.jpg": ("near_duplicate", s.key("b2.jpg")),
        "b3.jpg": ("near_duplicate", s.key("b2.jpg")),
        "blur.jpg": ("discarded_in_triage", None),
        "park.jpg": ("redundant_scene", None),
        "temple.jpg": ("redundant_scene", None),
    }
    b2 = next(p for p in written.selected if p.name == "b2.jpg")
    assert b2.comparison is not None and "2 near-duplicate(s)" in b2.comparison
    [kyoto, nara] = written.scene_groups
    assert kyoto.place is not None and abs(kyoto.place.lat - KYOTO.lat) < 1e-6
    # scenes group the candidates (blur.jpg, discarded in triage, is in none)
    assert (nara.start, nara.end) == (T0 + dt.timedelta(hours=5), T0 + dt.timedelta(hours=5, minutes=9))
    assert written.repairs == []


async def test_all_ranks_every_kept_item_and_keeps_near_duplicates_saying_of_what() -> None:
    s = Session()
    await two_scenes_with_a_burst(s)

    [out] = await handlers.handle_selection_requested(s.request(count=None), s.deps())

    assert isinstance(out, c.SelectionCompletedData)
    written = selection_handler.decode(s.store.objects[out.results_key][0])
    assert len(written.selected) == 6 and [e.name for e in written.excluded] == ["blur.jpg"]
    names = [p.name for p in written.selected]
    assert set(names[:2]) == {"b2.jpg", "deer.jpg"}  # each scene's best first
    assert set(names[-2:]) == {"b1.jpg", "b3.jpg"}  # near-duplicates after the distinct shots
    assert {p.name: p.duplicate_of for p in written.selected if p.duplicate_of} == {
        "b1.jpg": s.key("b2.jpg"),
        "b3.jpg": s.key("b2.jpg"),
    }


class Sloppy:
    """A provider that drops one item, repeats one and invents one."""

    name = "sloppy"

    async def select(
        self, items: Sequence[SelectionItem], *, context: str, count: int | None
    ) -> SelectionAnswer:
        first, second, *_ = items
        return SelectionAnswer(
            selected=[
                Pick(key=first.key, name=first.name, rank=1, reason="nice"),
                Pick(key=first.key, name=first.name, rank=2, reason="nice again"),
                Pick(key="uploads/elsewhere/x.jpg", name="x.jpg", rank=3, reason="?"),
            ],
            excluded=[Exclusion(key=second.key, name=second.name, category="quality", reason="meh")],
        )


async def test_a_sloppy_answer_is_repaired_and_the_repairs_recorded() -> None:
    s = Session()
    await two_scenes_with_a_burst(s)

    [out] = await handlers.handle_selection_requested(s.request(count=3), s.deps(Sloppy()))

    assert isinstance(out, c.SelectionCompletedData)
    written = selection_handler.decode(s.store.objects[out.results_key][0])
    assert [p.name for p in written.selected] == ["b1.jpg"]
    categories = {e.name: e.category for e in written.excluded}
    assert categories["b2.jpg"] == "quality" and categories["blur.jpg"] == "discarded_in_triage"
    assert [n for n, cat in categories.items() if cat == "not_evaluated"] == [
        "b3.jpg",
        "deer.jpg",
        "park.jpg",
        "temple.jpg",
    ]
    assert len(written.repairs) == 3


class Contradictory:
    name = "contradictory"

    async def select(
        self, items: Sequence[SelectionItem], *, context: str, count: int | None
    ) -> SelectionAnswer:
        a = items[0]
        return SelectionAnswer(
            selected=[Pick(key=a.key, name=a.name, rank=1, reason="best")],
            excluded=[Exclusion(key=a.key, name=a.name, category="quality", reason="worst")],
        )


class Failing:
    name = "failing"

    async def select(
        self, items: Sequence[SelectionItem], *, context: str, count: int | None
    ) -> SelectionAnswer:
        raise SelectionError("the model answered 503 until the retry budget ran out")


@pytest.mark.parametrize(
    ("provider", "says"),
    [(Contradictory(), "both picked and excluded"), (Failing(), "retry budget")],
)
async def test_an_unusable_answer_or_a_provider_failure_fails_the_job_with_the_reason(
    provider: Any, says: str
) -> None:
    s = Session()
    await two_scenes_with_a_burst(s)

    [out] = await handlers.handle_selection_requested(s.request(count=3, attempt=2), s.deps(provider))

    assert isinstance(out, c.SelectionFailedData)
    assert (out.code, out.attempt) == ("provider_error", 2) and says in out.message
    assert not [k for k in s.store.objects if "selection-" in k]


async def test_no_processed_file_or_a_bad_count_fails_clearly() -> None:
    s = Session()
    [out] = await handlers.handle_selection_requested(s.request(count=3), s.deps())
    assert isinstance(out, c.SelectionFailedData) and out.code == "no_files"
    [out] = await handlers.handle_selection_requested(s.request(count=0), s.deps())
    assert isinstance(out, c.SelectionFailedData) and out.code == "invalid_request"


async def test_without_a_completed_triage_every_processed_file_is_a_candidate() -> None:
    s = Session()
    await s.processed("a.jpg", signals(0.3, "0000000000000000"), None)
    await s.processed("b.jpg", signals(0.001, "ffffffffffffffff"), None)
    [out] = await handlers.handle_selection_requested(s.request(count=None), s.deps())
    assert isinstance(out, c.SelectionCompletedData) and (out.selected, out.excluded) == (2, 0)


async def test_the_same_request_writes_the_same_result() -> None:
    s = Session()
    await two_scenes_with_a_burst(s)
    first = await handlers.handle_selection_requested(s.request(count=4), s.deps())
    data = s.store.objects[f"results/{s.id}/selection-sel-1-1.json"][0]
    again = await handlers.handle_selection_requested(s.request(count=4), s.deps())
    assert first == again and s.store.objects[f"results/{s.id}/selection-sel-1-1.json"][0] == data


def test_giving_up_on_a_selection_request_ends_it_failed() -> None:
    s = Session()
    [out] = handlers.on_give_up(s.request(count=3), RuntimeError("boom"))
    assert isinstance(out, c.SelectionFailedData) and out.code == "internal_error"
    assert msgspec.json.decode(msgspec.json.encode(out))["job_id"] == "sel-1"
