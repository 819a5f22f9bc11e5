"""The video service's handler in process (``tests.support.app``: the API, the api's consumer with the video
service deployed, and the video consumer on one in-memory log and store), on a real 2 s clip (a trim of a
testdata clip, made in a tmp dir): phases recorded live with the render's percent, the result stored and
playable, too_long with its figures, an unreadable file with ffmpeg's reason, ffmpeg's own failure retried
(and given up: the item still ends), a cancel, an ended item left alone, a model provider given the
preview, and a feedback pass that re-renders from the original with the previous advice."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from services.api import consumer as api_consumer
from services.api import handlers as api_handlers
from services.api.auth import LocalIssuer
from services.video import app as video_app
from services.video import handlers
from services.video.model import Advice, VideoAnalysis, VideoContext
from services.video.offline import OfflineVideoProvider
from services.video.pipeline import OnPhase, RenderFailed, VideoEnhanced
from services.video.provider import VideoProvider
from services.video.steps import advice_key, result_keys
from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.events import video as vi
from shared.runtime.inbound import PREVIEWS, THUMBNAILS, upload_key
from shared.runtime.processor import Processor
from shared.runtime.projections import job_key
from shared.runtime.read_models import JobView
from tests.support.app import Api, running
from tests.support.messages import bus_body
from tests.support.paths import TESTDATA

SOURCE = TESTDATA / "videos" / "real" / "bigbuckbunny.mp4"
DAMAGED = TESTDATA / "videos" / "odd" / "chunk_out_of_range.mp4"


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with running(LocalIssuer.generate()) as api:
        yield api


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 2 s clip with audio (bigbuckbunny's first 2 s at 320 px wide)."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(SOURCE), "-t", "2", "-vf", "scale=320:-2"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out)),
        ],
        check=True,
    )
    return out.read_bytes()


def _api_consumer(api: Api) -> Processor:
    """The api's consumer as deployed with the video service (videos requested, feedback routed)."""
    deps = api_handlers.Deps(log=api.log, store=api.store, video_deployed=True)
    return Processor(api_consumer.service(deps), api.log)


def _video(api: Api, provider: VideoProvider | None = None, **kw: Any) -> Processor:
    deps = handlers.Deps(
        store=api.store,
        log=api.log,
        provider=provider or OfflineVideoProvider(),
        max_duration_s=kw.pop("max_duration_s", 60.0),
        **kw,
    )
    return Processor(video_app.service(deps), api.log)


def _processed_video(api: Api, sid: str, name: str, data: bytes, preview: bytes | None = None) -> str:
    """An original (and its preview) in the store, and media_process's decision in the log."""
    key = upload_key(sid, name)
    api.run(api.store.put, key, data, "video/mp4")
    thumbnail = f"{THUMBNAILS}/{sid}/{name}.jpg"
    api.run(api.store.put, thumbnail, b"\xff\xd8\xff thumbnail", "image/jpeg")
    preview_key = None
    if preview is not None:
        preview_key = f"{PREVIEWS}/{sid}/{name}.mp4"
        api.run(api.store.put, preview_key, preview, "video/mp4")
    ref = c.FileRef(bucket=api.store.bucket, key=key, name=name, size=len(data), etag=name)
    keys = c.DerivedKeys(thumbnail=thumbnail, preview=preview_key)
    api.commit(
        sid,
        c.FileProcessedData(file=ref, kind="video", media_type="video/mp4", sha256=name, keys=keys),
        source="shoebox/media_process",
    )
    return key


def _job(api: Api, data: bytes, name: str = "clip.mp4", preview: bytes | None = None) -> tuple[str, str, str]:
    sid = api.new_session("Bike trip in the Alps")
    key = _processed_video(api, sid, name, data, preview)
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": [key]}, headers=api.auth())
    assert r.status_code == 202, r.text
    return sid, str(r.json()["job_id"]), key


def _events(api: Api, sid: str) -> list[Any]:
    return list(api.run(api.log.read_all, sid))


def _fan_out(api: Api, sid: str) -> list[c.VideoEnhanceRequested]:
    """Every chunk and feedback request of the session through the api's consumer: the video requests."""
    consumer, out = _api_consumer(api), []
    for e in _events(api, sid):
        if isinstance(e, (c.EnhancementRequested, c.EnhancementFeedbackRequested)):
            out += api.run(consumer.process, bus_body(e))
    return [e for e in out if isinstance(e, c.VideoEnhanceRequested)]


def _item(api: Api, sid: str, job: str) -> dict[str, Any]:
    r = api.client.get(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth())
    assert r.status_code == 200, r.text
    return dict(r.json()["items"][0])


def _counts(api: Api, sid: str, job: str) -> tuple[int, int, int]:
    view = api.run(functools.partial(api.log.get_view, job_key(sid, job), type=JobView))
    assert view is not None
    return view.done, view.failed, view.cancelled


def _probe(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / "probe.mp4"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    )
    return dict(json.loads(out.stdout))


def test_a_clip_is_enhanced_with_its_phases_and_progress_recorded_live(
    api: Api, clip: bytes, tmp_path: Path
) -> None:
    sid, job, key = _job(api, clip)
    [request] = _fan_out(api, sid)
    committed = api.run(_video(api).process, bus_body(request))
    assert [type(e) for e in committed] == [c.VideoEnhanced]
    [done] = committed
    keys = result_keys(sid, job, key)
    assert (done.source, done.data.enhanced_key, done.data.thumbnail_key) == (
        "shoebox/video",
        keys.video,
        keys.thumbnail,
    )

    phases = [e for e in _events(api, sid) if isinstance(e, vi.VideoEnhancePhase)]
    names = [p.data.phase for p in phases]
    assert names[0] == "analysing" and names[-1] == "uploading" and "rendering" in names, names
    percents = [p.data.percent for p in phases if p.data.phase == "rendering"]
    assert None not in percents and percents[0] == 0.0  # the render's start, then its progress
    # (a 2 s clip renders before ffmpeg's first progress report; the stack test's longer clip has them)
    assert percents == sorted(p or 0.0 for p in percents)
    assert all(p.sequence < done.sequence for p in phases)  # committed as they happened, before the end

    # the result plays: H.264 + AAC (the source had audio), about the source's 2 s unless trimmed
    info = _probe(api.run(api.store.get, keys.video), tmp_path)
    codecs = {s["codec_type"]: s["codec_name"] for s in info["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert 0.5 < float(info["format"]["duration"]) <= 2.1
    assert api.run(api.store.get, keys.thumbnail)[:2] == b"\xff\xd8"
    advice = msgspec.json.decode(api.run(api.store.get, keys.advice), type=Advice)
    assert advice_key(keys.video) == keys.advice and isinstance(advice, Advice)

    item = _item(api, sid, job)
    assert item["status"] == "enhanced" and item["kind"] == "video"
    assert item["changes"] == done.data.changes and item["enhanced_url"] and item["after_thumbnail_url"]
    assert item["phase"] == "uploading" and item["phase_percent"] is None
    assert _counts(api, sid, job) == (1, 0, 0)


def test_a_clip_over_the_limit_fails_too_long_with_its_figures(api: Api, clip: bytes) -> None:
    sid, job, _ = _job(api, clip)
    [request] = _fan_out(api, sid)
    [failed] = api.run(_video(api, max_duration_s=1.5).process, bus_body(request))
    assert isinstance(failed, vi.VideoEnhanceFailed)
    assert failed.data.code == "too_long" and failed.data.limit_s == 1.5
    assert failed.data.duration_s is not None and 1.9 < failed.data.duration_s < 2.2
    assert "longest clip enhanced is 1.5 s" in failed.data.message, failed.data.message
    item = _item(api, sid, job)
    assert (item["status"], item["code"], item["limit_s"]) == ("failed", "too_long", 1.5)
    assert item["duration_s"] == failed.data.duration_s and item["error"] == failed.data.message
    assert _counts(api, sid, job) == (0, 1, 0)


def test_a_file_ffmpeg_cannot_read_fails_unreadable_with_its_reason(api: Api) -> None:
    sid, job, _ = _job(api, DAMAGED.read_bytes(), "damaged.mp4")
    [request] = _fan_out(api, sid)
    [failed] = api.run(_video(api).process, bus_body(request))
    assert isinstance(failed, vi.VideoEnhanceFailed)
    assert failed.data.code == "unreadable" and "damaged" in failed.data.message, failed.data.message
    assert _item(api, sid, job)["error"] == failed.data.message
    assert _counts(api, sid, job) == (0, 1, 0)


class FailingRender:
    """A stand-in for ``enhance_video`` whose ffmpeg fails 40 % into the render, ``times`` times, then the
    real pipeline runs."""

    def __init__(self, times: int) -> None:
        self.left = times

    async def __call__(
        self, src: Path, provider: VideoProvider, *, on_phase: OnPhase | None = None, **kw: Any
    ) -> VideoEnhanced:
        from services.video.pipeline import enhance_video

        if self.left > 0:
            self.left -= 1
            assert on_phase is not None
            await on_phase("rendering", 40.0, "eq brightness=+0.05")
            raise RenderFailed("ffmpeg exited with 1: Conversion failed!")
        return await enhance_video(src, provider, on_phase=on_phase, **kw)


def test_ffmpeg_failing_is_retried_and_the_retry_completes_the_item(api: Api, clip: bytes) -> None:
    sid, job, _ = _job(api, clip)
    [request] = _fan_out(api, sid)
    video = _video(api, enhance=FailingRender(times=1))
    with pytest.raises(RenderFailed):  # raised: the worker lets the message be received again
        api.run(video.process, bus_body(request))
    item = _item(api, sid, job)
    # the item shows how far it got; it has not ended
    assert (item["status"], item["phase"], item["phase_percent"]) == ("running", "rendering", 40.0)
    assert _counts(api, sid, job) == (0, 0, 0)
    [done] = api.run(video.process, bus_body(request))  # the redelivery
    assert isinstance(done, c.VideoEnhanced)
    assert _item(api, sid, job)["status"] == "enhanced" and _counts(api, sid, job) == (1, 0, 0)


def test_a_request_failing_on_every_delivery_still_ends_its_item(api: Api, clip: bytes) -> None:
    sid, job, _ = _job(api, clip)
    [request] = _fan_out(api, sid)
    video = _video(api, enhance=FailingRender(times=99))
    for _ in range(2):
        with pytest.raises(RenderFailed):
            api.run(video.process, bus_body(request))
    give_up = functools.partial(handlers.on_give_up, log_=api.log)
    [failed] = api.run(give_up, request, RenderFailed("Conversion failed!"))
    assert isinstance(failed, vi.VideoEnhanceFailedV2Data) and failed.code == "internal_error"
    assert "RenderFailed" in failed.message and "asked for again" in failed.message
    # an item that ended meanwhile keeps its one ending
    api.commit(sid, failed, source="shoebox/video")
    assert api.run(give_up, request, RenderFailed("again")) == []
    assert _counts(api, sid, job) == (0, 1, 0)


def test_a_cancelled_job_starts_no_clip_and_an_ended_item_is_left_alone(api: Api, clip: bytes) -> None:
    sid, job, key = _job(api, clip)
    [request] = _fan_out(api, sid)
    api.commit(sid, en.EnhancementCancelledData(job_id=job), source="shoebox/api")
    video = _video(api)
    assert [type(e) for e in api.run(video.process, bus_body(request))] == [en.ItemCancelled]

    sid, job, key = _job(api, clip)
    [request] = _fan_out(api, sid)
    api.commit(sid, en.ItemCancelledData(job_id=job, key=key), source="shoebox/api")
    assert api.run(video.process, bus_body(request)) == []
    assert not [e for e in _events(api, sid) if isinstance(e, vi.VideoEnhancePhase)]
    assert _counts(api, sid, job) == (0, 0, 1)


class Recording(OfflineVideoProvider):
    """The offline provider under another name (so it counts as a model provider), recording what it got."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        self.calls.append(
            {
                "preview": await anyio.Path(preview).read_bytes() if preview is not None else None,
                "context": context,
                "feedback": feedback,
                "previous": previous,
            }
        )
        return await super().recommend(
            analysis, preview=preview, context=context, feedback=feedback, previous=previous
        )


def test_a_feedback_pass_re_renders_from_the_original_with_the_previous_advice(
    api: Api, clip: bytes, tmp_path: Path
) -> None:
    provider = Recording()
    sid, job, key = _job(api, clip, preview=clip[:1000] + b"preview")
    video = _video(api, provider)
    [request] = _fan_out(api, sid)
    [first] = api.run(video.process, bus_body(request))
    assert isinstance(first, c.VideoEnhanced)
    # a model provider gets media_process's preview on local disk, and the trip
    assert provider.calls[0]["preview"] == clip[:1000] + b"preview"
    assert provider.calls[0]["context"].trip == "Bike trip in the Alps"
    stored = msgspec.json.decode(api.run(api.store.get, result_keys(sid, job, key).advice), type=Advice)

    name = key.rsplit("/", 1)[-1]
    r = api.client.post(
        f"/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback",
        json={"feedback": "brighter please, and more sparkle"},
        headers=api.auth(),
    )
    assert r.status_code == 202 and r.json()["revision"] == 1, r.text
    [feedback] = _fan_out(api, sid)[-1:]
    assert (feedback.data.feedback, feedback.data.revision) == ("brighter please, and more sparkle", 1)
    [answer] = api.run(video.process, bus_body(feedback))
    assert isinstance(answer, en.FeedbackCompleted) and answer.data.ok, answer
    revised = result_keys(sid, job, key, 1)
    assert (answer.data.enhanced_key, answer.data.thumbnail_key) == (revised.video, revised.thumbnail)
    # from the previous pass's advice (stored beside its result), with the sentence
    assert provider.calls[1]["previous"] == stored
    assert provider.calls[1]["feedback"] == "brighter please, and more sparkle"
    assert "sparkle" in answer.data.message  # said plainly: the words it did not understand
    assert any(ch.startswith("eq") and "brightness" in ch for ch in answer.data.changes), answer.data.changes
    assert _probe(api.run(api.store.get, revised.video), tmp_path)["streams"]
    # the first result is untouched (a client may be playing it)
    assert api.run(api.store.get, result_keys(sid, job, key).video)

    item = _item(api, sid, job)
    assert item["feedback_completed"] == 1 and item["status"] == "enhanced"
    assert [(t["revision"], t["status"]) for t in item["history"]] == [(0, "done"), (1, "done")]
    assert _counts(api, sid, job) == (1, 0, 0)  # a pass never counts

    # a second pass has the first turn as its context, and the first pass's advice as previous
    r = api.client.post(
        f"/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback",
        json={"feedback": "warmer"},
        headers=api.auth(),
    )
    [second] = api.run(video.process, bus_body(_fan_out(api, sid)[-1]))
    assert second.data.ok and second.data.enhanced_key == result_keys(sid, job, key, 2).video
    first_turn = ("brighter please, and more sparkle", answer.data.message)
    assert provider.calls[2]["context"].history == (first_turn,)
    assert provider.calls[2]["previous"] == msgspec.json.decode(
        api.run(api.store.get, revised.advice), type=Advice
    )


def test_feedback_on_an_item_not_enhanced_answers_not_ok(api: Api, clip: bytes) -> None:
    sid, job, key = _job(api, clip)
    [request] = _fan_out(api, sid)
    api.run(_video(api, max_duration_s=1.0).process, bus_body(request))  # too_long
    feedback = c.VideoEnhanceRequestedData(job_id=job, key=key, index=0, feedback="brighter", revision=1)
    api.commit(sid, feedback, source="shoebox/api")
    event = [e for e in _events(api, sid) if isinstance(e, c.VideoEnhanceRequested)][-1]
    [answer] = api.run(_video(api).process, bus_body(event))
    assert isinstance(answer, en.FeedbackCompleted) and not answer.data.ok
    assert "failed" in answer.data.message and answer.data.revision == 1
