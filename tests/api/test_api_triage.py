"""The triage in process: its routes on the in-memory collaborators (the saga each start asks for, recorded
by the in-memory starter), and the api's consumer handling the saga's commands on the same log and store
(what the saga's steps send to the api's queue). Running the saga itself, its polls and its deadline, is
the stack's to show (``tests/stack/test_triage_saga.py``, ``tests/stack/test_triage_flow.py``)."""

from __future__ import annotations

import functools
import math
from typing import Any

import msgspec
import pytest

from services.api import handlers, triage
from services.api.auth import LocalIssuer
from services.api.topology import TRIAGE_SAGA
from services.api.wiring import Collaborators
from shared.events import catalogue as c
from shared.runtime.projections import job_key
from shared.runtime.read_models import JobView
from shared.runtime.sagas import InMemorySagaStarter
from tests.support.app import SETTINGS, Api, running
from tests.support.paths import TESTDATA

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))


def start(api: Api, sid: str, expected: int) -> dict[str, Any]:
    r = api.client.post(f"/v1/sessions/{sid}/triage", json={"expected": expected}, headers=api.auth())
    assert r.status_code == 202, r.text
    job: dict[str, Any] = r.json()
    return job


def results(api: Api, sid: str, job: str) -> dict[str, Any]:
    r = api.client.get(f"/v1/sessions/{sid}/triage/{job}", headers=api.auth())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def session_events(api: Api, sid: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api.client.get(f"/v1/sessions/{sid}/events", headers=api.auth()).json()[
        "events"
    ]
    return events


def of_type(api: Api, sid: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in session_events(api, sid) if e["type"] == kind]


def test_a_start_asks_for_the_saga_with_the_apps_budgets_and_a_repeated_start_is_the_same(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 3)
    assert job["session_id"] == sid and job["expected"] == 3 and job["attempt"] == 1
    execution = api.sagas.executions[f"{job['job_id']}-a1"]
    budgets = api.settings.triage
    assert execution.saga == TRIAGE_SAGA.name
    assert execution.input == {
        "session_id": sid,
        "job_id": job["job_id"],
        "attempt": 1,
        "attempt_text": "1",
        "budget": {"left": math.ceil(budgets.upload_window_s / triage.POLL_S), "finalized": False},
        "deadline_polls": math.ceil(budgets.deadline_s / triage.POLL_S),
        "verdict_polls": {"left": math.ceil(budgets.verdict_wait_s / triage.POLL_S)},
        "views_table": api.settings.names.views_table,
        "api_queue_url": "memory://commands",
    }
    # the first file drop and every later one start it again: the same job, the same execution
    assert start(api, sid, 3) == job
    grown = start(api, sid, 5)
    assert (grown["job_id"], grown["expected"]) == (job["job_id"], 5)
    assert [n for n in api.sagas.executions if n.startswith(job["job_id"])] == [f"{job['job_id']}-a1"]
    [changed] = of_type(api, sid, "shoebox.triage.expected.changed.v1")
    assert (changed["data"]["expected"], changed["data"]["previous"]) == (5, 3)
    assert len(of_type(api, sid, "shoebox.triage.initialized.v1")) == 1
    assert results(api, sid, job["job_id"])["status"] == "pending"


def test_without_the_saga_a_start_is_a_503(issuer: LocalIssuer) -> None:
    nowhere = msgspec.structs.replace(Collaborators.in_memory(SETTINGS), sagas=InMemorySagaStarter(()))
    with running(issuer, nowhere) as api:
        sid = api.new_session()
        r = api.client.post(f"/v1/sessions/{sid}/triage", json={"expected": 1}, headers=api.auth())
        assert r.status_code == 503 and "not deployed" in r.json()["detail"]
        assert r.headers["content-type"].startswith("application/problem+json")


def test_finalize_stops_expecting_the_files_that_failed_on_the_client_once(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 4)["job_id"]
    url = f"/v1/sessions/{sid}/triage/{job}/finalize"
    r = api.client.post(url, json={"uploaded": 3, "failed": ["lost.jpg"]}, headers=api.auth())
    assert r.status_code == 200 and r.json()["expected"] == 3, r.text
    again = api.client.post(url, json={"uploaded": 3, "failed": ["lost.jpg"]}, headers=api.auth())
    assert again.status_code == 200 and again.json()["expected"] == 3
    [finalized] = of_type(api, sid, "shoebox.upload.finalized.v1")
    assert finalized["data"]["failed"] == ["lost.jpg"]
    assert results(api, sid, job)["status"] == "processing"
    unknown = f"/v1/sessions/{sid}/triage/tri-nope/finalize"
    assert api.client.post(unknown, json={"uploaded": 1}, headers=api.auth()).status_code == 404


def test_the_saga_asking_for_the_triage_records_the_counts_and_names_every_gap(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 5)["job_id"]
    for p in PHOTOS[:2]:
        api.decide(api.upload(sid, p.name, p.read_bytes()))
    api.decide(api.upload(sid, "notes.jpg", b"not a photo\n"))  # rejected
    api.upload(sid, "late.jpg", PHOTOS[2].read_bytes())  # arrived, never decided
    r = api.client.post(
        f"/v1/sessions/{sid}/triage/{job}/finalize",
        json={"uploaded": 4, "failed": ["lost.jpg"]},
        headers=api.auth(),
    )
    assert r.status_code == 200, r.text

    [requested] = api.run(api.consumers.saga_command, "request_triage", sid, job)
    assert isinstance(requested, c.TriageRequested) and requested.source == "shoebox/api"
    d = requested.data
    assert (d.job_id, d.attempt, d.timed_out) == (job, 1, False)
    assert (d.expected, d.processed, d.rejected, d.duplicate) == (4, 2, 1, 0)
    assert (d.gaps, d.gaps_count) == (["lost.jpg", "notes.jpg", "late.jpg"], 3)
    # a step's command is handled once, however often the saga (or SQS) sends it
    assert api.run(api.consumers.saga_command, "request_triage", sid, job) == []
    assert len(of_type(api, sid, "shoebox.triage.requested.v1")) == 1
    status = results(api, sid, job)
    assert (status["status"], status["gaps"]) == ("analyzing", ["lost.jpg", "notes.jpg", "late.jpg"])


def test_at_most_max_gaps_names_ride_in_the_request_and_the_count_has_them_all(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 150)["job_id"]
    lost = [f"lost-{i:03}.jpg" for i in range(150)]
    r = api.client.post(
        f"/v1/sessions/{sid}/triage/{job}/finalize", json={"uploaded": 0, "failed": lost}, headers=api.auth()
    )
    assert r.status_code == 200, r.text
    timed_out = functools.partial(api.consumers.saga_command, timed_out=True)
    [requested] = api.run(timed_out, "request_triage", sid, job)
    assert requested.data.gaps == lost[: handlers.MAX_GAPS] and requested.data.gaps_count == 150
    assert requested.data.timed_out


def test_a_timed_out_triage_fails_and_is_retried_as_a_new_execution(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 1)["job_id"]
    retry = f"/v1/sessions/{sid}/triage/{job}/retry"
    early = api.client.post(retry, headers=api.auth())
    assert early.status_code == 409 and "only a failed" in early.json()["detail"]  # nothing failed yet

    [failed] = api.run(api.consumers.saga_command, "triage_timed_out", sid, job)
    assert isinstance(failed, c.TriageFailed) and failed.data.code == "timed_out"
    assert api.run(api.consumers.saga_command, "triage_timed_out", sid, job) == []
    status = results(api, sid, job)
    assert status["status"] == "error" and "retry" in status["error"]

    r = api.client.post(retry, headers=api.auth())
    assert r.status_code == 202 and r.json()["attempt"] == 2, r.text
    assert [n for n in api.sagas.executions if n.startswith(job)] == [f"{job}-a1", f"{job}-a2"]
    assert api.sagas.executions[f"{job}-a2"].input["attempt_text"] == "2"


@pytest.fixture
def judged(api: Api) -> tuple[str, str, list[str]]:
    """A session with three processed photos and a complete triage: the first kept, two discarded."""
    sid = api.new_session()
    job = start(api, sid, 3)["job_id"]
    keys = [api.processed(sid, p.name, p.read_bytes()) for p in PHOTOS[:3]]
    verdicts = [c.Verdict(key=keys[0], verdict="keep", reason="sharp", confidence=0.9)] + [
        c.Verdict(key=k, verdict="discard", reason="blurred", confidence=0.8) for k in keys[1:]
    ]
    api.verdicts(sid, job, *verdicts)
    return sid, job, keys


def test_results_carry_the_verdicts_with_thumbnails_and_an_etag(
    api: Api, judged: tuple[str, str, list[str]]
) -> None:
    sid, job, keys = judged
    r = api.client.get(f"/v1/sessions/{sid}/triage/{job}", headers=api.auth())
    done = r.json()
    assert done["status"] == "complete" and [v["key"] for v in done["keep"]] == keys[:1]
    assert sorted(v["key"] for v in done["discard"]) == sorted(keys[1:])
    assert all(v["thumbnail_url"] for v in done["keep"] + done["discard"])
    again = api.client.get(
        f"/v1/sessions/{sid}/triage/{job}", headers={**api.auth(), "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


def test_a_finalize_after_the_verdicts_leaves_the_triage_complete(
    api: Api, judged: tuple[str, str, list[str]]
) -> None:
    """The triage starts at init, so every file can be decided and judged before the client says it is done
    uploading (the upload page finalizes after a grace period; a client may finalize after waiting for the
    results). Such a finalize must not take the job back to "processing": the saga waits for "complete" in
    the JOB item and would time out (15 min) on verdicts that are there. Found by the chaos runs."""
    sid, job, _ = judged
    r = api.client.post(
        f"/v1/sessions/{sid}/triage/{job}/finalize", json={"uploaded": 3, "failed": []}, headers=api.auth()
    )
    assert r.status_code == 200, r.text
    assert results(api, sid, job)["status"] == "complete"
    stored = api.run(functools.partial(api.log.get_view, type=JobView), job_key(sid, job))
    assert stored is not None and stored.status == "complete", "the saga reads this item"


def test_confirm_deletes_exactly_the_chosen_discards(api: Api, judged: tuple[str, str, list[str]]) -> None:
    sid, job, keys = judged
    url = f"/v1/sessions/{sid}/triage/{job}/confirm"
    kept = api.client.post(url, json={"delete_keys": [keys[0]]}, headers=api.auth())
    assert kept.status_code == 200 and kept.json()["deleted"] == [] and kept.json()["errors"]
    assert keys[0] in api.store.objects  # a keep is never deleted

    r = api.client.post(url, json={"delete_keys": [keys[1], keys[1]]}, headers=api.auth())
    assert r.status_code == 200 and r.json() == {"deleted": [keys[1]], "errors": []}
    assert keys[1] not in api.store.objects and {keys[0], keys[2]} <= set(api.store.objects)
    deleted = of_type(api, sid, "shoebox.media.file.deleted.v1")
    assert [(e["data"]["key"], e["data"]["reason"]) for e in deleted] == [(keys[1], "confirmed")]
    files = {f["key"]: f for f in api.client.get(f"/v1/sessions/{sid}", headers=api.auth()).json()["files"]}
    assert files[keys[1]]["deleted"] and not files[keys[2]]["deleted"]

    again = api.client.post(url, json={"delete_keys": [keys[1]]}, headers=api.auth())  # a retried confirm
    assert again.status_code == 200 and len(of_type(api, sid, "shoebox.media.file.deleted.v1")) == 1
    assert api.client.get(f"/v1/sessions/{sid}", headers=api.auth()).json()["counters"]["deleted"] == 1


def test_confirm_before_the_verdicts_is_a_409(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 1)["job_id"]
    key = api.processed(sid, "a.jpg")
    r = api.client.post(
        f"/v1/sessions/{sid}/triage/{job}/confirm", json={"delete_keys": [key]}, headers=api.auth()
    )
    assert r.status_code == 409 and key in api.store.objects
