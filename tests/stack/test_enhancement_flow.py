"""An enhancement job over the public API on the embedded stack, end to end through the enhance worker: 10
real photos uploaded and processed, one original deleted from storage before the job is asked for (so
before its turn, deterministically), the job polled with ``If-None-Match`` while it runs: it ends
``partial``, 9 enhanced and 1 error, its phases shown as they happened; then a feedback pass on one item
completes visibly (its revision answered, new files, its history grown)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.events import catalogue as c
from shared.runtime.projections import enhanced_item_key
from shared.runtime.read_models import EnhancedItemView
from tests.support.api import decided_status, new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

PHOTOS = [
    *sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))[:9],
    TESTDATA / "photos" / "orientation" / "landscape_6.jpg",
]


class Poller:
    """GET …/enhancements/{job} with the last ETag: what each changed answer showed."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.etag: str | None = None
        self.answers: list[dict[str, Any]] = []
        self.unchanged = 0

    def poll(self) -> dict[str, Any]:
        h = {**self.headers, **({"If-None-Match": self.etag} if self.etag else {})}
        r = httpx.get(self.url, headers=h)
        if r.status_code == 304:
            self.unchanged += 1
            return self.answers[-1]
        assert r.status_code == 200, r.text
        self.etag = r.headers["ETag"]
        self.answers.append(r.json())
        return self.answers[-1]

    def ended(self) -> dict[str, Any] | None:
        state = self.poll()
        return state if state["status"] != "processing" else None


def _item(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in state["items"] if i["name"] == name)


def test_a_job_of_ten_photos_with_one_vanished_ends_partial_and_takes_feedback(
    embedded_stack: RunningStack,
) -> None:
    s = embedded_stack.stack
    api, h = embedded_stack.api_url, embedded_stack.auth("enhance-owner")
    sid = new_session(api, "Lisbon in spring", headers=h)
    keys = [upload(api, sid, p.name, p.read_bytes(), "image/jpeg", headers=h) for p in PHOTOS]
    for key in keys:
        found = eventually(
            lambda key=key: decided_status(api, sid, key, headers=h), 120, what=f"{key} decided"
        )
        assert found["status"] == "processed", found
    # the original of the 4th photo vanishes from storage before its turn: the job is asked for after
    gone = keys[3]
    embedded_stack.portal.call(
        lambda: s.clients.s3.delete_object(Bucket=s.settings.names.media_bucket, Key=gone)
    )

    r = httpx.post(f"{api}/v1/sessions/{sid}/enhancements", json={"keys": keys}, headers=h)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    poller = Poller(f"{api}/v1/sessions/{sid}/enhancements/{job}", h)
    done = eventually(poller.ended, 90, what="the enhancement job to end", interval_s=0.1)

    assert (done["status"], done["total"], done["done"], done["failed"]) == ("partial", 10, 9, 1), done
    lost = _item(done, PHOTOS[3].name)
    assert lost["status"] == "failed" and lost["code"] == "no_files" and "storage" in lost["error"]
    enhanced = [i for i in done["items"] if i["status"] == "enhanced"]
    assert len(enhanced) == 9
    assert all(i["after_thumbnail_url"] and i["enhanced_url"] for i in enhanced)
    assert any(i["changes"] for i in enhanced)  # (a clean photo may come back untouched)
    # the phases were shown while the job ran: answers from before its end named items' phases
    running = [a for a in poller.answers if a["status"] == "processing"]
    assert any(i["phase"] for a in running for i in a["items"]), poller.answers
    # and each was recorded as it happened: every enhanced photo's phases precede its ending in the log
    events = embedded_stack.portal.call(lambda: s.log.read_all(sid))
    for item in enhanced:
        phases = [e for e in events if isinstance(e, c.PhotoEnhancePhase) and e.data.key == item["key"]]
        [end] = [e for e in events if isinstance(e, c.PhotoEnhanced) and e.data.key == item["key"]]
        assert [p.data.phase for p in phases][:2] == ["creative_edit", "analysis"]
        assert all(p.sequence < end.sequence for p in phases)
    r = httpx.get(f"{api}{enhanced[0]['enhanced_url']}", headers=h)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
    first_bytes = r.content

    # a feedback pass on one item: its revision answered, new files, the history grown
    name = enhanced[0]["name"]
    view = enhanced_item_key(sid, job, enhanced[0]["key"])
    before = embedded_stack.portal.call(lambda: s.log.get_view(view, type=EnhancedItemView))
    assert before is not None
    r = httpx.post(
        f"{api}/v1/sessions/{sid}/enhancements/{job}/items/{name}/feedback",
        json={"feedback": "brighter and warmer, with more sparkle"},
        headers=h,
    )
    assert r.status_code == 202, r.text
    revision = r.json()["revision"]
    answered = eventually(
        lambda: (i := _item(poller.poll(), name))["feedback_completed"] >= revision and i,
        60,
        what="the feedback pass to complete",
        interval_s=0.1,
    )
    assert answered["feedback_completed"] == revision == 1
    assert "sparkle" in answered["feedback_message"]  # said plainly: a word it did not understand
    assert [(t["revision"], t["status"]) for t in answered["history"]] == [(0, "done"), (1, "done")]
    assert answered["history"][1]["feedback"] == "brighter and warmer, with more sparkle"
    after = embedded_stack.portal.call(lambda: s.log.get_view(view, type=EnhancedItemView))
    assert after is not None and after.enhanced_key != before.enhanced_key
    assert after.thumbnail != before.thumbnail
    r = httpx.get(f"{api}{answered['enhanced_url']}", headers=h)
    assert r.status_code == 200 and r.content != first_bytes
    final = poller.poll()
    assert (final["done"], final["failed"], final["status"]) == (9, 1, "partial")  # a pass never counts
