"""The enhance service's handler in process (``tests.support.app``: the API, the api's consumer and the
enhance consumer on one in-memory log and store): a job's photos enhanced phase by phase, a cancel before
an item starts, an item that ended already, a vanished original, a provider that gives up, a redelivery
counted once, and a feedback pass that answers its revision and grows the item's history."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import pyvips

from services.api.auth import LocalIssuer
from services.enhance import app as enhance_app
from services.enhance import handlers
from services.enhance.model import Analysis
from services.enhance.offline import OfflineProvider
from services.enhance.provider import EditContext, EditOutcome, ProviderError
from services.enhance.steps import result_keys
from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.runtime.faults import Faults
from shared.runtime.processor import Processor
from shared.runtime.projections import job_key
from shared.runtime.read_models import JobView
from tests.support.app import Api, running
from tests.support.messages import bus_body
from tests.support.paths import TESTDATA

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with running(LocalIssuer.generate()) as api:
        yield api


def _enhance(api: Api, provider: Any = None, faults: Faults | None = None) -> Processor:
    deps = handlers.Deps(store=api.store, log=api.log, provider=provider or OfflineProvider())
    return Processor(enhance_app.service(deps), api.log, faults=faults or Faults())


def _job(api: Api, n: int) -> tuple[str, str, list[str]]:
    """A session with ``n`` real photos processed, and an enhancement job over them, fanned out."""
    sid = api.new_session()
    keys = [api.processed(sid, p.name, p.read_bytes()) for p in PHOTOS[:n]]
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=api.auth())
    assert r.status_code == 202, r.text
    job = str(r.json()["job_id"])
    return sid, job, keys


def _events(api: Api, sid: str) -> list[Any]:
    return list(api.run(api.log.read_all, sid))


def _fan_out(api: Api, sid: str) -> list[c.PhotoEnhanceRequested]:
    """Every chunk and feedback request of the session through the api's consumer: the photo requests."""
    out: list[Any] = []
    for e in _events(api, sid):
        if isinstance(e, (c.EnhancementRequested, c.EnhancementFeedbackRequested)):
            out += api.run(api.consumers.api.process, bus_body(e))
    return [e for e in out if isinstance(e, c.PhotoEnhanceRequested)]


def _state(api: Api, sid: str, job: str) -> dict[str, Any]:
    r = api.client.get(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth())
    assert r.status_code == 200, r.text
    return dict(r.json())


def _counts(api: Api, sid: str, job: str) -> tuple[int, int, int]:
    view = api.run(functools.partial(api.log.get_view, job_key(sid, job), type=JobView))
    assert view is not None
    return view.done, view.failed, view.cancelled


def test_photos_are_enhanced_phase_by_phase(api: Api) -> None:
    sid, job, keys = _job(api, 2)
    enhance = _enhance(api)
    requests = _fan_out(api, sid)
    committed = [e for r in requests for e in api.run(enhance.process, bus_body(r))]
    assert [type(e) for e in committed] == [c.PhotoEnhanced, c.PhotoEnhanced]
    assert all(e.source == "shoebox/enhance" for e in committed)

    phases = [e for e in _events(api, sid) if isinstance(e, c.PhotoEnhancePhase)]
    for key in keys:
        names = [p.data.phase for p in phases if p.data.key == key]
        # recorded as they happened, in the pipeline's order: phase 1, the analysis, any surgical edits
        assert names[:2] == ["creative_edit", "analysis"] and set(names[2:]) <= {"surgical_edit"}, names
        assert len(names) <= 5
        assert next(p for p in phases if p.data.key == key).sequence < next(
            e.sequence for e in committed if e.data.key == key
        )
    for e in committed:
        assert (e.data.enhanced_key, e.data.thumbnail_key) == result_keys(sid, job, e.data.key)
        thumb = pyvips.Image.new_from_buffer(api.run(api.store.get, e.data.thumbnail_key), "")
        full = pyvips.Image.new_from_buffer(api.run(api.store.get, e.data.enhanced_key), "")
        assert max(thumb.width, thumb.height) == 400 and (full.width, full.height) == (640, 480)
        assert all(" " in change and ("+" in change or "-" in change) for change in e.data.changes)

    state = _state(api, sid, job)
    assert [i["status"] for i in state["items"]] == ["enhanced", "enhanced"]
    item = state["items"][0]
    assert item["after_thumbnail_url"] and item["enhanced_url"]
    assert item["phase"] in ("analysis", "surgical_edit")
    assert [t["revision"] for t in item["history"]] == [0]
    assert item["history"][0]["changes"] == item["changes"]
    assert _counts(api, sid, job) == (2, 0, 0)


def test_a_cancelled_job_starts_no_item_and_an_ended_item_is_left_alone(api: Api) -> None:
    sid, job, keys = _job(api, 2)
    requests = _fan_out(api, sid)
    # the person cancelled (the API's item cancels not made yet): the item ends cancelled, not started
    api.commit(sid, en.EnhancementCancelledData(job_id=job), source="shoebox/api")
    enhance = _enhance(api)
    first = api.run(enhance.process, bus_body(requests[0]))
    assert [type(e) for e in first] == [en.ItemCancelled]
    # an item that ended already (here the API's cancel came first) is not touched
    api.commit(sid, en.ItemCancelledData(job_id=job, key=keys[1]), source="shoebox/api")
    assert api.run(enhance.process, bus_body(requests[1])) == []
    assert not [e for e in _events(api, sid) if isinstance(e, c.PhotoEnhancePhase)]
    assert _counts(api, sid, job) == (0, 0, 2)


def test_a_vanished_original_fails_its_item_and_the_others_go_on(api: Api) -> None:
    sid, job, keys = _job(api, 3)
    api.run(api.store.delete, keys[1])
    enhance = _enhance(api)
    out = [e for r in _fan_out(api, sid) for e in api.run(enhance.process, bus_body(r))]
    assert [type(e) for e in out] == [c.PhotoEnhanced, c.PhotoEnhanceFailed, c.PhotoEnhanced]
    failed = out[1].data
    assert failed.code == "no_files" and PHOTOS[1].name in failed.message and "storage" in failed.message
    assert _counts(api, sid, job) == (2, 1, 0)
    assert _state(api, sid, job)["items"][1]["error"] == failed.message


class GivingUp(OfflineProvider):
    """Phase 2 fails after its (notional) retries."""

    def analyse(self, image: pyvips.Image) -> Analysis:
        raise ProviderError("no usable answer after 3 tries")


def test_a_provider_that_gives_up_fails_the_item_with_its_reason(api: Api) -> None:
    sid, _, _ = _job(api, 1)
    [request] = _fan_out(api, sid)
    [out] = api.run(_enhance(api, GivingUp()).process, bus_body(request))
    assert isinstance(out, c.PhotoEnhanceFailed)
    assert out.data.code == "provider_error" and "no usable answer after 3 tries" in out.data.message
    phases = [e.data.phase for e in _events(api, sid) if isinstance(e, c.PhotoEnhancePhase)]
    assert phases == ["creative_edit"]  # what ran before it gave up was shown


class Counting(OfflineProvider):
    def __init__(self) -> None:
        self.runs = 0

    def creative_edit(
        self, image: pyvips.Image, context: EditContext, feedback: str | None
    ) -> tuple[pyvips.Image, EditOutcome]:
        self.runs += 1
        return super().creative_edit(image, context, feedback)


def test_a_redelivery_after_the_item_ended_counts_once_and_does_no_work(api: Api) -> None:
    """Tracking off stands for a redelivery whose tracking record was lost (or a copy of the request):
    the handler finds the item's ENDED# claim and does nothing. With the check broken it runs the
    pipeline again, its ending's claim is refused on every try, and the message fails (seen red)."""
    sid, job, _ = _job(api, 1)
    [request] = _fan_out(api, sid)
    provider = Counting()
    enhance = _enhance(api, provider, Faults(tracking=False))
    assert [type(e) for e in api.run(enhance.process, bus_body(request))] == [c.PhotoEnhanced]
    assert api.run(enhance.process, bus_body(request)) == []
    assert provider.runs == 1 and _counts(api, sid, job) == (1, 0, 0)


def test_a_feedback_pass_answers_its_revision_and_grows_the_history(api: Api) -> None:
    sid, job, keys = _job(api, 1)
    enhance = _enhance(api)
    [request] = _fan_out(api, sid)
    api.run(enhance.process, bus_body(request))
    before = _state(api, sid, job)["items"][0]
    name = keys[0].rsplit("/", 1)[-1]
    r = api.client.post(
        f"/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback",
        json={"feedback": "a bit brighter and more purple please"},
        headers=api.auth(),
    )
    assert r.status_code == 202, r.text
    assert r.json()["revision"] == 1
    [feedback] = _fan_out(api, sid)[-1:]
    assert (feedback.data.feedback, feedback.data.revision) == ("a bit brighter and more purple please", 1)
    [done] = api.run(enhance.process, bus_body(feedback))
    assert isinstance(done, en.FeedbackCompleted) and done.data.ok, done
    assert (done.data.enhanced_key, done.data.thumbnail_key) == result_keys(sid, job, keys[0], 1)
    assert "purple" in done.data.message and any(ch.startswith("exposure +") for ch in done.data.changes)
    # the first result is still there, untouched (a client may be reading it)
    assert api.run(api.store.get, result_keys(sid, job, keys[0])[0])

    after = _state(api, sid, job)["items"][0]
    assert after["feedback_completed"] == 1 and after["status"] == "enhanced"
    assert after["changes"] == done.data.changes != before["changes"]
    assert [(t["revision"], t["feedback"], t["status"]) for t in after["history"]] == [
        (0, None, "done"),
        (1, "a bit brighter and more purple please", "done"),
    ]
    assert "purple" in after["history"][1]["message"]
    assert _counts(api, sid, job) == (1, 0, 0)  # a pass never counts

    # the second pass knows the first (its context), and gets keys of its own
    r = api.client.post(
        f"/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback",
        json={"feedback": "warmer"},
        headers=api.auth(),
    )
    assert r.json()["revision"] == 2
    [second] = api.run(enhance.process, bus_body(_fan_out(api, sid)[-1]))
    assert second.data.ok and second.data.enhanced_key == result_keys(sid, job, keys[0], 2)[0]
    history = _state(api, sid, job)["items"][0]["history"]
    assert [t["revision"] for t in history] == [0, 1, 2]


def test_feedback_on_a_vanished_result_answers_not_ok(api: Api) -> None:
    sid, job, keys = _job(api, 1)
    enhance = _enhance(api)
    [request] = _fan_out(api, sid)
    [enhanced] = api.run(enhance.process, bus_body(request))
    api.run(api.store.delete, enhanced.data.enhanced_key)
    name = keys[0].rsplit("/", 1)[-1]
    r = api.client.post(
        f"/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback",
        json={"feedback": "sharper"},
        headers=api.auth(),
    )
    assert r.status_code == 202, r.text
    [done] = api.run(enhance.process, bus_body(_fan_out(api, sid)[-1]))
    assert isinstance(done, en.FeedbackCompleted) and not done.data.ok
    assert "no longer in storage" in done.data.message
    item = _state(api, sid, job)["items"][0]
    assert item["feedback_completed"] == 1 and item["history"][-1]["status"] == "failed"


def test_feedback_no_service_would_answer_is_answered_at_once(api: Api) -> None:
    """The api's consumer answers (not ok) a feedback request for an item no deployed service takes: a
    video while the video service is not deployed, or a key that is not the job's."""
    sid, job, keys = _job(api, 1)
    _fan_out(api, sid)
    video = c.VideoEnhanceRequestedData(job_id=job, key=f"uploads/{sid}/clip.mov", index=1)
    api.commit(sid, video, source="shoebox/api")  # (as a fan-out with the video service deployed would)
    for key, why in ((video.key, "not deployed"), (f"uploads/{sid}/nope.jpg", "not part of")):
        api.commit(
            sid,
            c.EnhancementFeedbackRequestedData(job_id=job, key=key, feedback="brighter", revision=1),
            source="shoebox/api",
        )
        out = [e for e in _events(api, sid) if isinstance(e, c.EnhancementFeedbackRequested)][-1]
        [answer] = api.run(api.consumers.api.process, bus_body(out))
        assert isinstance(answer, en.FeedbackCompleted) and not answer.data.ok
        assert why in answer.data.message and answer.data.revision == 1
    assert keys


def test_a_request_given_up_still_ends_its_item_or_answers_its_pass(api: Api) -> None:
    sid, job, keys = _job(api, 2)
    requests = _fan_out(api, sid)
    give_up = functools.partial(handlers.on_give_up, log_=api.log)
    [failed] = api.run(give_up, requests[0], RuntimeError("boom"))
    assert isinstance(failed, c.PhotoEnhanceFailedData) and failed.code == "internal_error"
    assert "RuntimeError" in failed.message and failed.key == keys[0]
    api.commit(sid, en.ItemCancelledData(job_id=job, key=keys[1]), source="shoebox/api")
    assert api.run(give_up, requests[1], RuntimeError("boom")) == []  # it ended otherwise: that stands
    data = c.PhotoEnhanceRequestedData(job_id=job, key=keys[0], index=0, feedback="warmer", revision=3)
    pass_request = msgspec.structs.replace(requests[0], data=data)
    [answer] = api.run(give_up, pass_request, RuntimeError("boom"))
    assert isinstance(answer, en.FeedbackCompletedData) and not answer.ok and answer.revision == 3
