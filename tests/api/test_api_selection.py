"""The selection in process: its routes on the in-memory collaborators (the saga each request starts,
recorded by the in-memory starter), the api's consumer handling the saga's commands, and a result as the
selection service writes it. The saga itself on the emulator: ``tests/stack/test_selection_flow.py``."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from services.api import restarts, selection
from services.api.topology import SELECTION_SAGA
from shared.events import catalogue as c
from shared.events.selection_results import Exclusion, Pick, SceneGroup, SelectionResults
from shared.runtime.sagas import InMemoryCommandQueue, InMemorySagaStarter
from tests.support.app import Api
from tests.support.paths import TESTDATA

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))


def triaged(api: Api, n: int = 4) -> tuple[str, str, list[str]]:
    """A session with ``n`` processed photos and a complete triage that kept them all."""
    sid = api.new_session()
    r = api.client.post(f"/v1/sessions/{sid}/triage", json={"expected": n}, headers=api.auth())
    assert r.status_code == 202, r.text
    triage_job = r.json()["job_id"]
    keys = [api.processed(sid, p.name, p.read_bytes()) for p in PHOTOS[:n]]
    api.verdicts(
        sid, triage_job, *[c.Verdict(key=k, verdict="keep", reason="ok", confidence=0.9) for k in keys]
    )
    return sid, triage_job, keys


def ask(api: Api, sid: str, **body: Any) -> dict[str, Any]:
    r = api.client.post(f"/v1/sessions/{sid}/selections", json=body, headers=api.auth())
    assert r.status_code == 202, r.text
    job: dict[str, Any] = r.json()
    return job


def read(api: Api, sid: str, job: str) -> dict[str, Any]:
    r = api.client.get(f"/v1/sessions/{sid}/selections/{job}", headers=api.auth())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def complete(api: Api, sid: str, job: str, keys: list[str]) -> SelectionResults:
    """What the selection service does when done: the results file in the store, the job completed. Two
    picks (keys 0 and 2, one scene each), key 1 a near duplicate of key 0, the rest ranked below."""
    names = {k: k.rsplit("/", 1)[-1] for k in keys}
    scenes = [
        SceneGroup(id="s1", label="Scene 1", items=keys[:2]),
        SceneGroup(id="s2", label="Scene 2", items=keys[2:]),
    ]
    results = SelectionResults(
        job_id=job,
        attempt=1,
        provider="offline",
        count=2,
        selected=[
            Pick(
                key=keys[0], name=names[keys[0]], rank=1, scene="s1", reason="sharpest", comparison="sharper"
            ),
            Pick(key=keys[2], name=names[keys[2]], rank=2, scene="s2", reason="best of its scene"),
        ],
        excluded=sorted(
            [
                Exclusion(
                    key=keys[1],
                    name=names[keys[1]],
                    category="near_duplicate",
                    reason="a near copy",
                    duplicate_of=keys[0],
                ),
                *[
                    Exclusion(key=k, name=names[k], category="quality", reason="ranked below")
                    for k in keys[3:]
                ],
            ],
            key=lambda x: x.name,
        ),
        scene_groups=scenes,
    )
    results_key = f"results/{sid}/selection-{job}-1.json"
    api.run(api.store.put, results_key, msgspec.json.encode(results), "application/json")
    api.commit(
        sid,
        c.SelectionCompletedData(
            job_id=job,
            selected=2,
            excluded=len(keys) - 2,
            scenes=2,
            results_key=results_key,
            provider="offline",
        ),
        source="shoebox/selection",
    )
    return results


def test_a_selection_needs_a_triage_and_starts_its_saga_with_the_apps_budgets(api: Api) -> None:
    sid = api.new_session()
    early = api.client.post(f"/v1/sessions/{sid}/selections", json={"count": 3}, headers=api.auth())
    assert early.status_code == 409 and "triage" in early.json()["detail"]

    sid, triage_job, _ = triaged(api)
    job = ask(api, sid, count=3, context="Kyoto temples", model="gemini-2.5-pro")
    assert (job["session_id"], job["attempt"], job["triage_job_id"], job["count"]) == (sid, 1, triage_job, 3)
    execution = api.sagas.executions[f"{job['job_id']}-a1"]
    budgets = api.settings.selection
    assert execution.saga == SELECTION_SAGA.name
    assert execution.input == {
        "session_id": sid,
        "job_id": job["job_id"],
        "triage_job_id": triage_job,
        "attempt": 1,
        "attempt_text": "1",
        "files_polls": {"left": math.ceil(budgets.wait_s / selection.POLL_S)},
        "triage_polls": {"left": math.ceil(api.settings.triage.verdict_wait_s / selection.POLL_S)},
        "result_polls": {"left": math.ceil(budgets.result_wait_s / selection.POLL_S)},
        "views_table": api.settings.names.views_table,
        "api_queue_url": "memory://commands",
    }
    state = read(api, sid, job["job_id"])
    assert (state["status"], state["count"], state["context"]) == ("pending", 3, "Kyoto temples")
    assert state["selected"] == [] and state["excluded"] == []
    # "all", and the session's own context when none is given
    every = ask(api, sid, count="all")
    assert every["count"] == "all" and read(api, sid, every["job_id"])["context"] == "Weekend in Kyoto"
    listed = api.client.get(f"/v1/sessions/{sid}/selections", headers=api.auth()).json()["selections"]
    assert [s["job_id"] for s in listed] == [every["job_id"], job["job_id"]]


@pytest.mark.parametrize(
    "body", [{"count": 0}, {"count": "some"}, {"count": 3, "extra": 1}, {"context": "x" * 2001}]
)
def test_a_request_out_of_its_bounds_is_a_400(api: Api, body: dict[str, Any]) -> None:
    sid, _, _ = triaged(api, 1)
    r = api.client.post(f"/v1/sessions/{sid}/selections", json=body, headers=api.auth())
    assert r.status_code == 400, r.text


def test_another_callers_selection_is_not_found(api: Api) -> None:
    sid, _, _ = triaged(api, 1)
    job = ask(api, sid, count=1)["job_id"]
    for r in (
        api.client.get(f"/v1/sessions/{sid}/selections/{job}", headers=api.auth("mallory")),
        api.client.post(f"/v1/sessions/{sid}/selections", json={"count": 1}, headers=api.auth("mallory")),
        api.client.put(
            f"/v1/sessions/{sid}/selections/{job}/picks",
            json={"selected": [], "excluded": []},
            headers=api.auth("mallory"),
        ),
    ):
        assert r.status_code == 404, r.text
    assert api.client.get(f"/v1/sessions/{sid}/selections/sel-nope", headers=api.auth()).status_code == 404


def test_the_sagas_commands_request_the_selection_as_asked_or_fail_it(api: Api) -> None:
    sid, _, _ = triaged(api, 2)
    job = ask(api, sid, count="all", context="Kyoto", model="gemini-2.5-pro")["job_id"]
    [requested] = api.run(api.consumers.saga_command, "request_selection", sid, job)
    assert isinstance(requested, c.SelectionRequested)
    d = requested.data
    assert (d.job_id, d.count, d.context, d.model, d.attempt) == (job, None, "Kyoto", "gemini-2.5-pro", 1)
    assert api.run(api.consumers.saga_command, "request_selection", sid, job) == []  # once per step
    assert read(api, sid, job)["status"] == "analyzing"

    [failed] = api.run(api.consumers.saga_command, "selection_timed_out", sid, job)
    assert isinstance(failed, c.SelectionFailed) and failed.data.code == "timed_out"
    state = read(api, sid, job)
    assert state["status"] == "error" and state["code"] == "timed_out" and "again" in state["error"]

    other = ask(api, sid, count=1)["job_id"]
    [blocked] = api.run(api.consumers.saga_command, "selection_triage_failed", sid, other)
    assert isinstance(blocked, c.SelectionFailed) and blocked.data.code == "invalid_request"
    assert "triage" in read(api, sid, other)["error"]


def test_a_failed_triage_refuses_a_new_selection(api: Api) -> None:
    sid = api.new_session()
    triage_job = api.client.post(
        f"/v1/sessions/{sid}/triage", json={"expected": 1}, headers=api.auth()
    ).json()["job_id"]
    api.run(api.consumers.saga_command, "triage_timed_out", sid, triage_job)
    r = api.client.post(f"/v1/sessions/{sid}/selections", json={"count": 1}, headers=api.auth())
    assert r.status_code == 409 and "retry" in r.json()["detail"]


def test_a_complete_selection_answers_picks_exclusions_and_scenes_with_thumbnails_and_an_etag(
    api: Api,
) -> None:
    sid, _, keys = triaged(api)
    job = ask(api, sid, count=2)["job_id"]
    complete(api, sid, job, keys)
    r = api.client.get(f"/v1/sessions/{sid}/selections/{job}", headers=api.auth())
    state = r.json()
    assert (state["status"], state["provider"], state["revision"]) == ("complete", "offline", 0)
    assert [(p["key"], p["rank"], p["scene"]) for p in state["selected"]] == [
        (keys[0], 1, "s1"),
        (keys[2], 2, "s2"),
    ]
    assert state["selected"][0]["comparison"] == "sharper"
    [dup] = [x for x in state["excluded"] if x["category"] == "near_duplicate"]
    assert (dup["key"], dup["duplicate_of"], dup["scene"]) == (keys[1], keys[0], "s1")
    assert all(i["thumbnail_url"] and i["kind"] == "photo" for i in state["selected"] + state["excluded"])
    assert [g["id"] for g in state["scene_groups"]] == ["s1", "s2"]
    again = api.client.get(
        f"/v1/sessions/{sid}/selections/{job}", headers={**api.auth(), "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


def picks(api: Api, sid: str, job: str, body: dict[str, Any]) -> Any:
    return api.client.put(f"/v1/sessions/{sid}/selections/{job}/picks", json=body, headers=api.auth())


def test_the_person_moves_items_between_picks_and_exclusions_recorded_as_an_event(api: Api) -> None:
    sid, _, keys = triaged(api)
    job = ask(api, sid, count=2)["job_id"]
    assert picks(api, sid, job, {"selected": keys, "excluded": []}).status_code == 409  # not complete yet
    complete(api, sid, job, keys)
    # key 3 joins the picks first, key 2 leaves them, key 0 stays second
    r = picks(api, sid, job, {"selected": [keys[3], keys[0]], "excluded": [keys[1], keys[2]], "revision": 0})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["revision"] == 1
    assert [(p["key"], p["rank"], p["by_person"]) for p in edited["selected"]] == [
        (keys[3], 1, True),
        (keys[0], 2, False),
    ]
    assert (
        edited["selected"][0]["scene"] == "s2" and "Picked by the person" in edited["selected"][0]["reason"]
    )
    moved = {x["key"]: x for x in edited["excluded"]}
    assert moved[keys[2]]["by_person"] and "Moved out of the picks" in moved[keys[2]]["reason"]
    assert moved[keys[1]]["category"] == "near_duplicate" and not moved[keys[1]]["by_person"]
    assert read(api, sid, job) == {**edited, "version": read(api, sid, job)["version"]}

    [event] = [
        e
        for e in api.client.get(f"/v1/sessions/{sid}/events", headers=api.auth()).json()["events"]
        if e["type"] == "shoebox.selection.picks.edited.v1"
    ]
    assert (event["data"]["revision"], event["data"]["selected"], event["data"]["excluded"]) == (1, 2, 2)
    stored = msgspec.json.decode(api.run(api.store.get, event["data"]["picks_key"]), type=SelectionResults)
    assert stored.revision == 1 and [p.key for p in stored.selected] == [keys[3], keys[0]]
    # an edit made on the old revision is refused; on the new one it lands
    stale = picks(api, sid, job, {"selected": [keys[0]], "excluded": keys[1:], "revision": 0})
    assert stale.status_code == 409 and "meanwhile" in stale.json()["detail"]
    assert (
        picks(api, sid, job, {"selected": [keys[0]], "excluded": keys[1:], "revision": 1}).json()["revision"]
        == 2
    )


@pytest.mark.parametrize(
    ("lists", "problem"),
    [
        (lambda k: {"selected": k[:2], "excluded": k[3:]}, "missing"),
        (lambda k: {"selected": k[:2], "excluded": k[1:]}, "repeated"),
        (lambda k: {"selected": [*k, "uploads/x/invented.jpg"], "excluded": []}, "unknown"),
    ],
)
def test_an_edit_must_name_every_item_exactly_once(api: Api, lists: Any, problem: str) -> None:
    sid, _, keys = triaged(api)
    job = ask(api, sid, count=2)["job_id"]
    complete(api, sid, job, keys)
    r = picks(api, sid, job, lists(keys))
    assert r.status_code == 400 and problem in r.json()["detail"], r.text
    assert r.json()["errors"][problem]
    assert read(api, sid, job)["revision"] == 0


def triaged_ids(api: Api, sid: str) -> list[str]:
    """The session's triage jobs (as the events show them)."""
    events = api.client.get(f"/v1/sessions/{sid}/events", headers=api.auth()).json()["events"]
    return [e["data"]["job_id"] for e in events if e["type"] == "shoebox.triage.initialized.v1"]


def test_a_restarted_stack_starts_again_the_selections_and_triages_that_had_not_ended(api: Api) -> None:
    """The embedded emulator forgets its executions on a restart (``deploy/local/persistence.py``): every
    selection neither complete nor failed is started again under the name it had, the rest are left."""
    sid, _, keys = triaged(api)
    waiting = ask(api, sid, count=2)["job_id"]
    done = ask(api, sid, count=2)["job_id"]
    complete(api, sid, done, keys)
    failed = ask(api, sid, count=2)["job_id"]
    api.run(api.consumers.saga_command, "selection_timed_out", sid, failed)
    fresh = InMemorySagaStarter()
    started = api.run(restarts.restart_running_sagas, api.log, fresh, InMemoryCommandQueue(), api.settings)
    ours = [name for name in started if name.rsplit("-a", 1)[0] in (waiting, done, failed)]
    assert ours == [f"{waiting}-a1"]
    assert fresh.executions[f"{waiting}-a1"].input == api.sagas.executions[f"{waiting}-a1"].input
    # the same pass finds a triage still waiting for its files (and leaves the complete one above)
    other = api.new_session()
    r = api.client.post(f"/v1/sessions/{other}/triage", json={"expected": 2}, headers=api.auth())
    running = r.json()["job_id"]
    again = api.run(
        restarts.restart_running_sagas, api.log, InMemorySagaStarter(), InMemoryCommandQueue(), api.settings
    )
    triages = [
        n for n in again if n.startswith("tri-") and n.rsplit("-a", 1)[0] in (running, *triaged_ids(api, sid))
    ]
    assert triages == [f"{running}-a1"]
