"""The enhancement job in process: its routes on the in-memory log and store, the items answered as the
enhance service will answer them (committed here). The fan-out and the saga: their own tests."""

from __future__ import annotations

from typing import Any

from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.runtime.projections import job_key
from shared.runtime.read_models import JobView
from tests.support.app import Api
from tests.support.paths import TESTDATA

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))


def _session(api: Api, n: int = 3) -> tuple[str, list[str]]:
    sid = api.new_session()
    return sid, [api.processed(sid, p.name, p.read_bytes()) for p in PHOTOS[:n]]


def _read(api: Api, sid: str, job: str, **headers: str) -> Any:
    return api.client.get(f"/v1/sessions/{sid}/enhancements/{job}", headers={**api.auth(), **headers})


def test_a_job_is_recorded_in_chunks_and_read_item_by_item(api: Api) -> None:
    sid, keys = _session(api)
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=api.auth())
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    assert r.json()["total"] == 3 and r.json()["photos"] == 3
    first = _read(api, sid, job)
    assert first.status_code == 200 and first.json()["status"] == "processing"
    assert first.json()["total"] == 3 and first.json()["items"] == []  # not fanned out yet
    assert _read(api, sid, job, **{"If-None-Match": first.headers["etag"]}).status_code == 304

    # the fan-out and the service, as they will record them
    api.commit(sid, *[c.PhotoEnhanceRequestedData(job_id=job, key=k, index=i) for i, k in enumerate(keys)])
    api.commit(sid, c.PhotoEnhancePhaseData(job_id=job, key=keys[0], phase="analysis", summary="score 7"))
    api.commit(
        sid,
        c.PhotoEnhancedData(
            job_id=job,
            key=keys[1],
            enhanced_key=f"enhanced/{sid}/b.jpg",
            thumbnail_key=f"enhanced/{sid}/b.t.jpg",
            changes=["exposure +0.3"],
        ),
    )
    api.commit(sid, c.PhotoEnhanceFailedData(job_id=job, key=keys[2], code="provider_error", message="gone"))
    body = _read(api, sid, job).json()
    running, enhanced, failed = body["items"]
    assert running["status"] == "running" and running["phase"] == "analysis"
    assert running["before_thumbnail_url"].endswith("/thumbnail")
    assert enhanced["status"] == "enhanced" and enhanced["changes"] == ["exposure +0.3"]
    assert enhanced["after_thumbnail_url"] and enhanced["enhanced_url"]
    assert failed["status"] == "failed" and failed["error"] == "gone" and failed["code"] == "provider_error"
    assert (body["done"], body["failed"]) == (1, 1)

    # feedback on the enhanced item: a revision, answered by the pass's completion
    name = keys[1].rsplit("/", 1)[-1]
    url = f"/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback"
    fb = api.client.post(url, json={"feedback": "warmer"}, headers=api.auth())
    assert fb.status_code == 202, fb.text
    assert fb.json()["revision"] == 1
    assert (
        api.client.post(
            f"/v1/sessions/{sid}/enhancements/{job}/items/{keys[2].rsplit('/', 1)[-1]}/feedback",
            json={"feedback": "warmer"},
            headers=api.auth(),
        ).status_code
        == 409
    )  # a failed item has no result to go on from
    api.commit(
        sid, en.FeedbackCompletedData(job_id=job, key=keys[1], revision=1, ok=True, changes=["warmer"])
    )
    item = _read(api, sid, job).json()["items"][1]
    assert (item["feedback_requested"], item["feedback_completed"], item["changes"]) == (1, 1, ["warmer"])


def test_cancel_ends_the_items_not_started_and_counts_each_once(api: Api) -> None:
    sid, keys = _session(api)
    job = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=api.auth()).json()[
        "job_id"
    ]
    api.commit(sid, *[c.PhotoEnhanceRequestedData(job_id=job, key=k, index=i) for i, k in enumerate(keys)])
    api.commit(sid, c.PhotoEnhancePhaseData(job_id=job, key=keys[0], phase="creative_edit", summary="s"))
    r = api.client.delete(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth())
    assert r.status_code == 200, r.text
    assert [i["status"] for i in r.json()["items"]] == ["running", "cancelled", "cancelled"]
    again = api.client.delete(f"/v1/sessions/{sid}/enhancements/{job}", headers=api.auth())
    assert again.json()["cancelled"] == 2 and again.json()["cancel_requested"]
    view = api.run(lambda: api.log.get_view(job_key(sid, job), type=JobView))
    assert view is not None
    assert view.cancelled == 2 and view.done == 0


def test_bad_requests(api: Api) -> None:
    sid, keys = _session(api, 1)
    post = lambda body: api.client.post(f"/v1/sessions/{sid}/enhancements", json=body, headers=api.auth())  # noqa: E731
    assert post({}).status_code == 400
    assert post({"keys": keys, "selection_job_id": "x"}).status_code == 400
    assert post({"keys": [f"uploads/{sid}/nope.jpg"]}).status_code == 400
    assert post({"selection_job_id": "sel-none"}).status_code == 404
    assert _read(api, sid, "enh-none").status_code == 404
