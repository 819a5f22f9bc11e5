"""``handle_triage_requested`` on an in-memory event log and object store: the manifest, one verdict per
processed file, the results file, the counts, failures, and redelivery."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from services.selection import handlers, results
from services.selection.handlers import Deps, handle_triage_requested
from services.selection.providers import OfflineTriage, ProviderError, TriageItem
from services.selection.topology import CONSUMER
from shared.events import catalogue as c
from shared.events.codec import encode, make_event
from shared.events.envelope import Event, Payload
from shared.runtime.config import Settings
from shared.runtime.log import InMemoryEventLog
from shared.runtime.processor import Processor
from shared.runtime.projections import job_key
from shared.runtime.read_models import JobView
from shared.runtime.service import Service
from shared.runtime.storage import InMemoryObjectStore

pytestmark = pytest.mark.anyio

SHARP = c.PhotoSignals(
    sharpness=0.3,
    exposure_mean=0.45,
    shadows_clipped=0.0,
    highlights_clipped=0.01,
    colour_cast=5.0,
    phash="0" * 16,
)
BLURRED = msgspec.structs.replace(SHARP, sharpness=0.001)
DARK = msgspec.structs.replace(SHARP, exposure_mean=0.02, highlights_clipped=0.0)


class Session:
    """One session's stream, written the way media_process and the API write it."""

    def __init__(self) -> None:
        self.id = str(uuid.uuid4())
        self.log = InMemoryEventLog()
        self.store = InMemoryObjectStore()

    async def append(self, payload: Payload, source: str = "shoebox/media_process") -> Event[Any]:
        [event] = await self.log.commit([make_event(payload, source=source, session_id=self.id)])
        return event

    def ref(self, name: str, etag: str = "e1") -> c.FileRef:
        return c.FileRef(bucket="test", key=f"uploads/{self.id}/{name}", name=name, size=100, etag=etag)

    async def created(self, context: str = "Weekend in Kyoto") -> None:
        data = c.SessionCreatedV2Data(owner="u1", trip=c.Trip(context=context))
        await self.append(data, source="shoebox/api")

    async def processed(
        self,
        name: str,
        photo: c.PhotoSignals | None = SHARP,
        video: c.VideoSignals | None = None,
        etag: str = "e1",
    ) -> None:
        ref = self.ref(name, etag)
        await self.append(
            c.FileProcessedData(
                file=ref,
                kind="video" if video else "photo",
                media_type="video/mp4" if video else "image/jpeg",
                sha256=uuid.uuid4().hex,  # different bytes each time
                keys=c.DerivedKeys(thumbnail=f"thumbnails/{self.id}/{name}.jpg"),
                photo=None if video else photo,
                video=video,
            )
        )

    async def rejected(self, name: str, etag: str = "e1", replaces: c.Replaced | None = None) -> None:
        ref = msgspec.structs.replace(self.ref(name, etag), replaces=replaces)
        await self.append(c.FileRejectedData(file=ref, code="undecodable", message="damaged"))

    async def duplicate(self, name: str, of: str) -> None:
        await self.append(
            c.FileDuplicateData(file=self.ref(name), sha256="ab" * 32, duplicate_of=self.ref(of).key)
        )

    def request(self, *, processed: int, attempt: int = 1, gaps: Sequence[str] = ()) -> c.TriageRequested:
        data = c.TriageRequestedData(
            job_id="job-1",
            attempt=attempt,
            expected=processed + len(gaps),
            processed=processed,
            rejected=0,
            duplicate=0,
            gaps=list(gaps),
            gaps_count=len(gaps),
        )
        event = make_event(data, source="shoebox/api", session_id=self.id)
        assert isinstance(event, c.TriageRequested)
        return event

    def deps(self, provider: Any = None) -> Deps:
        return Deps(store=self.store, log=self.log, provider=provider or OfflineTriage())


async def test_every_processed_file_gets_exactly_one_verdict_and_others_none() -> None:
    s = Session()
    await s.created()
    await s.processed("b.jpg")
    await s.processed("a.jpg", photo=BLURRED)
    await s.processed("c.jpg", photo=DARK)
    clip = c.VideoSignals(luma_mean=0.4, luma_spread=0.4, near_uniform=False, duration_s=1.0)
    await s.processed("d.mp4", video=clip)
    await s.rejected("broken.jpg")
    await s.duplicate("b-copy.jpg", of="b.jpg")

    [out] = await handle_triage_requested(s.request(processed=4, gaps=["never.jpg"]), s.deps())

    assert isinstance(out, c.TriageCompletedData)
    assert (out.job_id, out.attempt, out.keep, out.discard) == ("job-1", 1, 1, 3)
    assert out.provider == "offline"
    assert out.results_key == f"results/{s.id}/triage-job-1-1.json"
    data, content_type = s.store.objects[out.results_key]
    assert content_type == "application/json"
    written = results.decode(data)
    names = [v.key.rsplit("/", 1)[-1] for v in written.verdicts]
    assert names == ["a.jpg", "b.jpg", "c.jpg", "d.mp4"]  # file-name order, nothing rejected or duplicate
    assert [v.verdict for v in written.verdicts] == ["discard", "keep", "discard", "discard"]
    verdicts = [v.verdict for v in written.verdicts]
    assert (written.keep, written.discard) == (verdicts.count("keep"), verdicts.count("discard")) == (1, 3)
    assert (written.gaps, written.gaps_count, written.provider) == (["never.jpg"], 1, "offline")
    assert all(v.reason and 0 <= v.confidence <= 1 for v in written.verdicts)
    json.loads(data)  # plain JSON for any reader


async def test_the_latest_processing_of_a_key_decides() -> None:
    s = Session()
    await s.processed("a.jpg", photo=BLURRED, etag="e1")
    await s.processed("a.jpg", photo=SHARP, etag="e2")  # uploaded again under the same name
    [out] = await handle_triage_requested(s.request(processed=1), s.deps())
    assert isinstance(out, c.TriageCompletedData)
    assert (out.keep, out.discard) == (1, 0)


async def test_a_file_rejected_after_being_processed_is_left_out() -> None:
    s = Session()
    await s.processed("a.jpg")
    await s.processed("b.jpg")
    # a later upload under the same name (other bytes) was damaged
    await s.rejected("b.jpg", etag="e2", replaces=c.Replaced(etag="e1", status="processed"))
    [out] = await handle_triage_requested(s.request(processed=1), s.deps())
    assert isinstance(out, c.TriageCompletedData)
    written = results.decode(s.store.objects[out.results_key][0])
    assert [v.key for v in written.verdicts] == [s.ref("a.jpg").key]


async def test_a_deleted_original_is_left_out() -> None:
    s = Session()
    await s.processed("a.jpg")
    await s.processed("b.jpg")
    await s.append(c.FileDeletedData(key=s.ref("b.jpg").key, reason="confirmed"), source="shoebox/api")
    [out] = await handle_triage_requested(s.request(processed=2, attempt=2), s.deps())
    assert isinstance(out, c.TriageCompletedData)
    assert out.keep + out.discard == 1


async def test_no_processed_file_fails_with_no_files() -> None:
    s = Session()
    await s.created()
    await s.rejected("broken.jpg")
    [out] = await handle_triage_requested(s.request(processed=0, gaps=["x.jpg"]), s.deps())
    assert isinstance(out, c.TriageFailedData)
    assert (out.code, out.job_id, out.attempt) == ("no_files", "job-1", 1)
    assert s.store.objects == {}


class _Careless:
    """A provider that forgets one file and judges another twice."""

    name = "careless"

    async def triage(self, items: Sequence[TriageItem], *, context: str) -> list[c.Verdict]:
        keep = [c.Verdict(key=i.key, verdict="keep", reason="ok", confidence=0.9) for i in items]
        return [*keep[1:], keep[-1]]


class _Inventive:
    name = "inventive"

    async def triage(self, items: Sequence[TriageItem], *, context: str) -> list[c.Verdict]:
        out = [c.Verdict(key=i.key, verdict="keep", reason="ok", confidence=0.9) for i in items]
        return [*out, c.Verdict(key="uploads/elsewhere/x.jpg", verdict="keep", reason="ok", confidence=0.9)]


@pytest.mark.parametrize("provider", [_Careless(), _Inventive()])
async def test_verdicts_that_do_not_match_the_manifest_fail_the_job(provider: Any) -> None:
    s = Session()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        await s.processed(name)
    [out] = await handle_triage_requested(s.request(processed=3), s.deps(provider))
    assert isinstance(out, c.TriageFailedData)
    assert out.code == "internal_error"
    assert "do not match" in out.message
    assert s.store.objects == {}


class _Recording:
    name = "recording"

    def __init__(self) -> None:
        self.contexts: list[str] = []

    async def triage(self, items: Sequence[TriageItem], *, context: str) -> list[c.Verdict]:
        self.contexts.append(context)
        return await OfflineTriage().triage(items, context=context)


async def test_the_provider_is_given_the_trip_context() -> None:
    s = Session()
    await s.created("Hiking in the Alps")
    await s.processed("a.jpg")
    provider = _Recording()
    await handle_triage_requested(s.request(processed=1), s.deps(provider))
    assert provider.contexts == ["Hiking in the Alps"]


async def test_the_handler_is_pure_in_its_inputs() -> None:
    s = Session()
    for i in range(30):
        await s.processed(f"IMG_{i:03}.JPG", photo=[SHARP, BLURRED, DARK][i % 3])
    request = s.request(processed=30)
    first = await handle_triage_requested(request, s.deps())
    written = s.store.objects[results.results_key(s.id, "job-1", 1)]
    again = await handle_triage_requested(request, s.deps())
    assert first == again
    assert s.store.objects[results.results_key(s.id, "job-1", 1)] == written


def _bus_body(event: Event[Any]) -> str:
    detail = json.loads(encode(event))
    return json.dumps(
        {"id": "1", "source": event.source, "detail-type": type(event).family(), "detail": detail}
    )


async def test_a_redelivered_request_is_handled_once_through_the_runtime() -> None:
    s = Session()
    await s.created()
    await s.processed("a.jpg")
    await s.processed("b.jpg", photo=BLURRED)
    deps = s.deps()
    service = Service(
        CONSUMER,
        {
            c.TriageRequested: functools.partial(handle_triage_requested, deps=deps),
            c.SelectionRequested: handlers.handle_selection_requested,  # never called here
        },
        on_give_up=handlers.on_give_up,
    )
    processor = Processor(service, s.log)
    body = _bus_body(s.request(processed=2))
    committed = await processor.process(body)
    assert [type(e) for e in committed] == [c.TriageCompleted]
    assert await processor.process(body) == []
    job = await s.log.get_view(job_key(s.id, "job-1"), type=JobView)
    assert job is not None
    assert (job.status, job.keep, job.discard) == ("complete", 1, 1)


async def test_giving_up_fails_the_job_so_no_saga_waits_forever() -> None:
    s = Session()
    request = s.request(processed=2, attempt=3)
    [out] = handlers.on_give_up(request, RuntimeError("boom"))
    assert isinstance(out, c.TriageFailedData)
    assert (out.code, out.job_id, out.attempt) == ("internal_error", "job-1", 3)
    [out] = handlers.on_give_up(request, ProviderError("quota"))
    assert isinstance(out, c.TriageFailedData) and out.code == "provider_error"
    assert handlers.on_give_up(object(), RuntimeError("boom")) == []


async def test_giving_up_through_the_runtime_records_triage_failed() -> None:
    s = Session()
    await s.created()
    service = Service(
        CONSUMER,
        {
            c.TriageRequested: functools.partial(handle_triage_requested, deps=s.deps()),
            c.SelectionRequested: handlers.handle_selection_requested,  # never called here
        },
        on_give_up=handlers.on_give_up,
    )
    processor = Processor(service, s.log)
    await processor.give_up(
        _bus_body(s.request(processed=1)),
        error=RuntimeError("boom"),
        message_id="m1",
        receive_count=5,
        queue="q",
        dead_letter_queue="q-dlq",
    )
    types = [type(e) for e in await s.log.read_all(s.id)]
    assert types == [c.SessionCreatedV2, c.TriageFailed, c.MessageFailed]


def test_the_app_uses_gemini_only_when_a_key_is_configured() -> None:
    from services.selection.app import triage_provider

    store = InMemoryObjectStore()
    assert triage_provider(Settings.from_env({}), store).name == "offline"
    assert triage_provider(Settings.from_env({"SHOEBOX_GEMINI_API_KEY": " "}), store).name == "offline"
    assert triage_provider(Settings.from_env({"SHOEBOX_GEMINI_API_KEY": "k"}), store).name == "gemini"
    on_ssm = Settings.from_env({"SHOEBOX_AI_GEMINI_API_KEY_PARAMETER": "/shoebox/gemini"})
    assert triage_provider(on_ssm, store).name == "gemini"
