"""The enhancement job's fan-out in the api's consumer, in process: each ``enhancement.requested`` chunk the
API recorded becomes one request per photo (videos end skipped at once while the video service is not
deployed, so the job never waits for them), in one commit that fits a DynamoDB transaction. The request
starts the enhancement saga, whose commands record the job's ending from its counters (the saga itself:
``tests/stack/test_enhancement_saga.py``)."""

from __future__ import annotations

import functools
from typing import Any

from services.api import consumer as api_consumer
from services.api import handlers as api_handlers
from services.api import restarts
from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.runtime.processor import Processor
from shared.runtime.projections import job_key
from shared.runtime.read_models import JobView
from shared.runtime.sagas import InMemoryCommandQueue, InMemorySagaStarter
from tests.support.app import Api
from tests.support.messages import bus_body


def _videos(api: Api, sid: str, n: int) -> list[str]:
    """``n`` processed videos (their decisions only: the fan-out reads no bytes)."""
    keys = []
    for i in range(n):
        name = f"clip{i:03d}.mov"
        ref = c.FileRef(bucket=api.store.bucket, key=f"uploads/{sid}/{name}", name=name, size=1, etag=name)
        api.commit(
            sid,
            c.FileProcessedData(file=ref, kind="video", media_type="video/quicktime", sha256=name),
            source="shoebox/media_process",
        )
        keys.append(ref.key)
    return keys


def _request(api: Api, sid: str, keys: list[str]) -> str:
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=api.auth())
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def _chunks(api: Api, sid: str, job: str) -> list[c.EnhancementRequested]:
    events = api.run(api.log.read_all, sid)
    return [e for e in events if isinstance(e, c.EnhancementRequested) and e.data.job_id == job]


def _fan_out(api: Api, sid: str, job: str, consumer: Processor | None = None) -> list[Any]:
    """Every chunk of the job through the api's consumer: the events it committed."""
    processor = consumer or api.consumers.api
    return [e for chunk in _chunks(api, sid, job) for e in api.run(processor.process, bus_body(chunk))]


def _job(api: Api, sid: str, job: str) -> JobView:
    view = api.run(functools.partial(api.log.get_view, job_key(sid, job), type=JobView))
    assert view is not None
    return view


def test_photos_are_requested_and_videos_skipped_at_once(api: Api) -> None:
    sid = api.new_session()
    photos = [api.processed(sid, f"p{i:03d}.jpg") for i in range(30)]
    videos = _videos(api, sid, 3)
    keys = [*photos[:20], *videos, *photos[20:]]
    job = _request(api, sid, keys)
    assert len(_chunks(api, sid, job)) == 2  # 33 keys: 24 + 9

    out = _fan_out(api, sid, job)
    requested = [e for e in out if isinstance(e, c.PhotoEnhanceRequested)]
    skipped = [e for e in out if isinstance(e, en.ItemSkipped)]
    assert [e.data.key for e in requested] == photos
    assert [e.data.index for e in requested] == [*range(20), *range(23, 33)]  # the job-wide places
    assert [(e.data.key, e.data.index) for e in skipped] == [(k, 20 + i) for i, k in enumerate(videos)]
    assert not [e for e in out if isinstance(e, c.VideoEnhanceRequested)]
    assert all(e.source == "shoebox/api" for e in out)

    view = _job(api, sid, job)
    assert (view.total, view.skipped, view.done, view.failed) == (33, 3, 0, 0)
    body = api.client.get(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth()).json()
    assert [i["status"] for i in body["items"]] == ["queued"] * 20 + ["skipped"] * 3 + ["queued"] * 10
    assert "not deployed" in body["items"][20]["error"]

    # a redelivered chunk commits nothing: nothing is requested or counted twice
    assert _fan_out(api, sid, job) == []
    assert _job(api, sid, job).skipped == 3


def test_a_chunk_of_videos_only_fits_one_commit(api: Api) -> None:
    """The worst chunk (every item skipped: its event, guard, ITEM# and ENDED# claim) still fits the
    transaction: the log raises CommitTooLarge past 100 items."""
    sid = api.new_session()
    videos = _videos(api, sid, en.CHUNK_KEYS)
    job = _request(api, sid, videos)
    assert len(_fan_out(api, sid, job)) == en.CHUNK_KEYS
    assert _job(api, sid, job).skipped == en.CHUNK_KEYS


def test_videos_are_requested_where_the_video_service_is_deployed(api: Api) -> None:
    sid = api.new_session()
    photo, video = api.processed(sid, "a.jpg"), _videos(api, sid, 1)[0]
    job = _request(api, sid, [photo, video])
    deps = api_handlers.Deps(log=api.log, store=api.store, video_deployed=True)
    out = _fan_out(api, sid, job, Processor(api_consumer.service(deps), api.log))
    assert [type(e) for e in out] == [c.PhotoEnhanceRequested, c.VideoEnhanceRequested]
    assert out[1].data.index == 1 and _job(api, sid, job).skipped == 0


def test_a_chunk_after_the_cancel_starts_nothing(api: Api) -> None:
    sid = api.new_session()
    keys = [api.processed(sid, f"p{i}.jpg") for i in range(3)]
    job = _request(api, sid, keys)
    r = api.client.delete(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth())
    assert r.status_code in (200, 202, 204), r.text
    out = _fan_out(api, sid, job)
    assert [type(e) for e in out] == [en.ItemCancelled] * 3
    assert _job(api, sid, job).cancelled == 3


def test_the_request_starts_its_saga_and_a_restart_starts_the_running_ones_again(api: Api) -> None:
    sid = api.new_session()
    keys = [api.processed(sid, f"p{i}.jpg") for i in range(2)]
    running, ended = _request(api, sid, keys[:1]), _request(api, sid, keys[1:])
    execution = api.sagas.executions[f"{running}-a1"]
    assert execution.saga == "enhancement"
    assert execution.input["item_polls"] == {"left": api.settings.enhancement.wait_s // 3}
    assert execution.input["session_id"] == sid and execution.input["attempt_text"] == "1"
    api.run(api.consumers.saga_command, "complete_enhancement", sid, ended)  # 0 of 1 ended: failed

    fresh = InMemorySagaStarter()
    started = api.run(restarts.restart_running_sagas, api.log, fresh, InMemoryCommandQueue(), api.settings)
    assert f"{running}-a1" in started and f"{ended}-a1" not in started
    assert fresh.executions[f"{running}-a1"].input == execution.input


def test_the_saga_s_commands_record_the_ending_from_the_counters_once(api: Api) -> None:
    sid = api.new_session()
    photos = [api.processed(sid, f"p{i}.jpg") for i in range(3)]
    video = _videos(api, sid, 1)[0]
    job = _request(api, sid, [*photos, video])
    _fan_out(api, sid, job)
    api.commit(sid, c.PhotoEnhancedData(job_id=job, key=photos[0], enhanced_key="e/a.jpg"))
    api.commit(sid, c.PhotoEnhanceFailedData(job_id=job, key=photos[1], code="provider_error", message="x"))

    out = api.run(api.consumers.saga_command, "enhancement_timed_out", sid, job)
    assert [type(e) for e in out] == [en.EnhancementCompleted]
    d = out[0].data
    assert (d.status, d.total, d.done, d.failed, d.skipped, d.timed_out) == ("partial", 4, 1, 1, 1, True)
    assert _job(api, sid, job).status == "partial"
    # the job has ended: a later command (the other ending, a restarted saga) records nothing
    assert api.run(api.consumers.saga_command, "complete_enhancement", sid, job) == []


def test_every_photo_enhanced_is_done_even_with_videos_skipped(api: Api) -> None:
    sid = api.new_session()
    photo, video = api.processed(sid, "a.jpg"), _videos(api, sid, 1)[0]
    job = _request(api, sid, [photo, video])
    _fan_out(api, sid, job)
    api.commit(sid, c.PhotoEnhancedData(job_id=job, key=photo, enhanced_key="e/a.jpg"))
    out = api.run(api.consumers.saga_command, "complete_enhancement", sid, job)
    assert (out[0].data.status, out[0].data.timed_out) == ("done", False)
