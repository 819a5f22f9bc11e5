"""The triage saga on the embedded stack's Step Functions: fan-in by polling the counters item, the
request recorded in the log by the api's consumer, a deadline that never hangs."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _commit(stack: RunningStack, *payloads: Any, sid: str) -> None:
    events = [make_event(p, source="shoebox/test", session_id=sid) for p in payloads]
    stack.portal.call(lambda: stack.stack.log.commit(events))


def _put(stack: RunningStack, key: str, data: bytes) -> None:
    s = stack.stack
    stack.portal.call(
        lambda: s.clients.s3.put_object(Bucket=s.settings.names.media_bucket, Key=key, Body=data)
    )


def _start(
    stack: RunningStack, sid: str, job: str, *, polls: int, verdict_polls: int, attempt: int = 1
) -> str:
    s = stack.stack
    names = s.settings.names
    arn = s.resources[names.state_machine("triage")]
    payload = {
        "session_id": sid,
        "job_id": job,
        "attempt": attempt,
        "attempt_text": str(attempt),
        "budget": {"left": polls, "finalized": False},
        "deadline_polls": polls,
        "verdict_polls": {"left": verdict_polls},
        "views_table": names.views_table,
        "api_queue_url": s.queue_url("api"),
    }
    r = stack.portal.call(
        lambda: s.clients.sfn.start_execution(
            stateMachineArn=arn, name=f"{sid}-triage-{attempt}", input=json.dumps(payload)
        )
    )
    return str(r["executionArn"])


def _finished(stack: RunningStack, arn: str, timeout_s: float) -> dict[str, Any]:
    s = stack.stack

    def ended() -> dict[str, Any] | None:
        d = stack.portal.call(lambda: s.clients.sfn.describe_execution(executionArn=arn))
        return dict(d) if d["status"] != "RUNNING" else None

    return eventually(ended, timeout_s, what="the saga to end", interval_s=0.5)


def _log(stack: RunningStack, sid: str) -> list[Any]:
    return stack.portal.call(lambda: stack.stack.log.read_all(sid))


def test_a_file_that_never_arrives_does_not_hang_the_saga(embedded_stack: RunningStack) -> None:
    sid, job = str(uuid.uuid4()), "triage-" + uuid.uuid4().hex
    photo = (TESTDATA / "photos" / "gps" / "DSCN0038.jpg").read_bytes()
    _commit(embedded_stack, c.SessionCreatedV2Data(owner="t", trip=c.Trip(context="saga")), sid=sid)
    _commit(embedded_stack, c.TriageInitializedData(job_id=job, expected=3), sid=sid)
    _put(embedded_stack, f"uploads/{sid}/a.jpg", photo)
    _put(embedded_stack, f"uploads/{sid}/b.txt", b"not a photo")
    # the third file never arrives; the deadline is 4 polls (~12 s); no verdict arrives either in this test
    started = time.monotonic()
    arn = _start(embedded_stack, sid, job, polls=4, verdict_polls=1)
    result = _finished(embedded_stack, arn, timeout_s=90)
    assert result["status"] == "SUCCEEDED", result
    events = _log(embedded_stack, sid)
    [requested] = [e for e in events if isinstance(e, c.TriageRequested)]
    assert requested.data.timed_out and requested.data.expected == 3
    assert requested.data.processed + requested.data.rejected == 2
    assert requested.source == "shoebox/api"
    print(f"saga with a missing file ended in {time.monotonic() - started:.1f}s")


def test_a_repeated_start_is_harmless_and_a_retry_never_collides(embedded_stack: RunningStack) -> None:
    sid, job = str(uuid.uuid4()), "triage-" + uuid.uuid4().hex
    _commit(embedded_stack, c.SessionCreatedV2Data(owner="t", trip=c.Trip(context="saga")), sid=sid)
    _commit(embedded_stack, c.TriageInitializedData(job_id=job, expected=0), sid=sid)
    first = _start(embedded_stack, sid, job, polls=2, verdict_polls=1)
    again = _start(
        embedded_stack, sid, job, polls=2, verdict_polls=1
    )  # same name, same input: same execution
    assert again == first
    retry = _start(embedded_stack, sid, job, polls=2, verdict_polls=1, attempt=2)
    assert retry != first
    for arn in (first, retry):
        assert _finished(embedded_stack, arn, timeout_s=60)["status"] == "SUCCEEDED"
    requested = [e for e in _log(embedded_stack, sid) if isinstance(e, c.TriageRequested)]
    assert sorted(e.data.attempt for e in requested) == [1, 2]
