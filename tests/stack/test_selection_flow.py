"""The selection over the public API on the embedded stack: asked for before the files are in, its saga
waits for every file and the triage, the selection service answers, and the person's edit is kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import pyvips

from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))[:6]


def _selection(api: str, sid: str, job: str, h: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{api}/v1/sessions/{sid}/selections/{job}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _saga_history(stack: RunningStack, job: str) -> str:
    """The selection execution's last steps, for a failure message."""
    s = stack.stack
    arn = s.resources[s.settings.names.state_machine("selection")]

    async def history() -> str:
        runs = await s.clients.sfn.list_executions(stateMachineArn=arn)
        out = []
        for run in runs["executions"]:
            if not run["name"].startswith(job):
                continue
            events = (await s.clients.sfn.get_execution_history(executionArn=run["executionArn"]))["events"]
            out.append(
                f"{run['name']} {run['status']}: "
                + ", ".join(
                    str(e.get("stateEnteredEventDetails", {}).get("name") or e["type"]) for e in events[-25:]
                )
            )
        return "\n".join(out) or "no execution"

    return stack.portal.call(history)


def test_a_selection_asked_for_early_waits_for_the_files_and_the_triage_then_picks(
    embedded_stack: RunningStack,
) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("selection-owner")
    sid = new_session(api, "Weekend in Kyoto", headers=h)
    expected = len(PHOTOS) + 1
    r = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": expected}, headers=h)
    assert r.status_code == 202, r.text
    triage_job = r.json()["job_id"]
    r = httpx.post(f"{api}/v1/sessions/{sid}/selections", json={"count": 3, "context": "temples"}, headers=h)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    assert _selection(api, sid, job, h)["status"] == "pending"

    black = pyvips.Image.black(1200, 900, bands=3).jpegsave_buffer(Q=85)
    upload(api, sid, "pocket.jpg", bytes(black), "image/jpeg", headers=h)
    for p in PHOTOS:
        upload(api, sid, p.name, p.read_bytes(), "image/jpeg", headers=h)

    try:
        done = eventually(
            lambda: (s := _selection(api, sid, job, h))["status"] in ("complete", "error") and s,
            timeout_s=240,
            what="the selection",
        )
    except AssertionError as e:
        triage = httpx.get(f"{api}/v1/sessions/{sid}/triage/{triage_job}", headers=h).json()
        raise AssertionError(
            f"{e}; selection {_selection(api, sid, job, h)['status']}; triage {triage['status']} "
            f"{triage['error']}; {_saga_history(embedded_stack, job)}"
        ) from e
    assert done["status"] == "complete", done
    picked = [p["key"] for p in done["selected"]]
    others = [x["key"] for x in done["excluded"]]
    assert len(picked) == 3 and [p["rank"] for p in done["selected"]] == [1, 2, 3]
    assert len(picked) + len(others) == expected and len(set(picked) | set(others)) == expected
    [pocket] = [x for x in done["excluded"] if x["name"] == "pocket.jpg"]
    assert pocket["category"] == "discarded_in_triage", pocket
    assert all(p["reason"] and p["scene"] and p["thumbnail_url"] for p in done["selected"])
    assert done["scene_groups"] and done["context"] == "temples" and done["provider"] == "offline"

    # the person swaps the third pick for an exclusion; the edit is what the job answers from now on
    swapped = next(x["key"] for x in done["excluded"] if x["category"] != "discarded_in_triage")
    body = {
        "selected": [*picked[:2], swapped],
        "excluded": [k for k in others if k != swapped] + [picked[2]],
        "revision": 0,
    }
    r = httpx.put(f"{api}/v1/sessions/{sid}/selections/{job}/picks", json=body, headers=h)
    assert r.status_code == 200, r.text
    after = _selection(api, sid, job, h)
    assert after["revision"] == 1 and [p["key"] for p in after["selected"]] == body["selected"]
    assert after["selected"][2]["by_person"]
