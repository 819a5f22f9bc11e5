"""The selection saga's other endings on the embedded stack's Step Functions, started directly with small
budgets: files that never arrive end it ``timed_out``, a failed triage ends it failed, and a triage that
ended at its deadline lets it go on without the files that never came. The ending with picks is
``tests/stack/test_selection_flow.py``'s."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.events import catalogue as c
from shared.events import selection_edits as se
from shared.events.codec import make_event
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _commit(stack: RunningStack, *payloads: Any, sid: str) -> None:
    events = [make_event(p, source="shoebox/test", session_id=sid) for p in payloads]
    stack.portal.call(lambda: stack.stack.log.commit(events))


def _session(stack: RunningStack, expected: int) -> tuple[str, str, str]:
    """A session expecting ``expected`` files (none arrives), its triage job and a selection job."""
    sid, triage_job, job = str(uuid.uuid4()), "tri-" + uuid.uuid4().hex[:20], "sel-" + uuid.uuid4().hex[:20]
    _commit(
        stack,
        c.SessionCreatedV2Data(owner="t", trip=c.Trip(context="saga")),
        c.TriageInitializedData(job_id=triage_job, expected=expected),
        se.SelectionInitializedData(job_id=job, triage_job_id=triage_job, count=2),
        sid=sid,
    )
    return sid, triage_job, job


def _run(stack: RunningStack, sid: str, triage_job: str, job: str, *, polls: int) -> dict[str, Any]:
    """Start the saga with ``polls`` polls for each wait and return the ended execution."""
    s = stack.stack
    names = s.settings.names
    payload = {
        "session_id": sid,
        "job_id": job,
        "triage_job_id": triage_job,
        "attempt": 1,
        "attempt_text": "1",
        "files_polls": {"left": polls},
        "triage_polls": {"left": polls},
        "result_polls": {"left": polls},
        "views_table": names.views_table,
        "api_queue_url": s.queue_url("api"),
    }
    arn = stack.portal.call(
        lambda: s.clients.sfn.start_execution(
            stateMachineArn=s.resources[names.state_machine("selection")],
            name=f"{job}-a1",
            input=json.dumps(payload),
        )
    )["executionArn"]

    def ended() -> dict[str, Any] | None:
        d = stack.portal.call(lambda: s.clients.sfn.describe_execution(executionArn=arn))
        return dict(d) if d["status"] != "RUNNING" else None

    try:
        return eventually(ended, 150, what="the selection saga to end", interval_s=0.5)
    except AssertionError as e:
        history = stack.portal.call(lambda: s.clients.sfn.get_execution_history(executionArn=arn))["events"]
        steps = [str(h.get("stateEnteredEventDetails", {}).get("name") or "") for h in history[-40:]]
        last = [h for h in history if h["type"] == "TaskSucceeded"][-1:]
        raise AssertionError(f"{e}: {' '.join(x for x in steps if x)}; last read {last}") from e


def _failure(stack: RunningStack, sid: str, job: str) -> c.SelectionFailed:
    def failed() -> c.SelectionFailed | None:
        events = stack.portal.call(lambda: stack.stack.log.read_all(sid))
        return next((e for e in events if isinstance(e, c.SelectionFailed) and e.data.job_id == job), None)

    return eventually(failed, 30, what="selection.failed in the session's log")


def test_files_that_never_arrive_end_it_timed_out(embedded_stack: RunningStack) -> None:
    sid, triage_job, job = _session(embedded_stack, expected=2)
    result = _run(embedded_stack, sid, triage_job, job, polls=2)
    assert result["status"] == "SUCCEEDED", result
    failed = _failure(embedded_stack, sid, job)
    assert failed.data.code == "timed_out" and failed.source == "shoebox/api"


def test_a_failed_triage_fails_it_without_asking_for_a_selection(embedded_stack: RunningStack) -> None:
    sid, triage_job, job = _session(embedded_stack, expected=0)
    _commit(
        embedded_stack,
        c.TriageFailedData(job_id=triage_job, code="provider_error", message="no answer"),
        sid=sid,
    )
    result = _run(embedded_stack, sid, triage_job, job, polls=5)
    assert result["status"] == "SUCCEEDED", result
    assert _failure(embedded_stack, sid, job).data.code == "invalid_request"
    events = embedded_stack.portal.call(lambda: embedded_stack.stack.log.read_all(sid))
    assert not [e for e in events if isinstance(e, c.SelectionRequested)]


def test_a_triage_that_gave_up_on_files_lets_the_selection_go_on(embedded_stack: RunningStack) -> None:
    """Two files expected, one arrives: the triage's deadline gives up on the other (a gap) and judges the
    one; waiting for the missing file would only time out, so the selection goes on over what was decided."""
    s = embedded_stack.stack
    sid, triage_job, job = _session(embedded_stack, expected=2)
    photo = (TESTDATA / "photos" / "gps" / "DSCN0038.jpg").read_bytes()
    embedded_stack.portal.call(
        lambda: s.clients.s3.put_object(
            Bucket=s.settings.names.media_bucket, Key=f"uploads/{sid}/a.jpg", Body=photo
        )
    )
    triage_input = {
        "session_id": sid,
        "job_id": triage_job,
        "attempt": 1,
        "attempt_text": "1",
        "budget": {"left": 4, "finalized": False},
        "deadline_polls": 4,
        "verdict_polls": {"left": 30},
        "views_table": s.settings.names.views_table,
        "api_queue_url": s.queue_url("api"),
    }
    embedded_stack.portal.call(
        lambda: s.clients.sfn.start_execution(
            stateMachineArn=s.resources[s.settings.names.state_machine("triage")],
            name=f"{triage_job}-a1",
            input=json.dumps(triage_input),
        )
    )
    result = _run(embedded_stack, sid, triage_job, job, polls=40)
    assert result["status"] == "SUCCEEDED", result
    events = embedded_stack.portal.call(lambda: s.log.read_all(sid))
    [requested] = [e.data for e in events if isinstance(e, c.TriageRequested)]
    assert requested.timed_out and (requested.processed, requested.expected) == (1, 2)
    [completed] = [e for e in events if isinstance(e, c.SelectionCompleted) and e.data.job_id == job]
    assert completed.data.selected + completed.data.excluded == 1
