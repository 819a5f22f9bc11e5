"""The enhancement saga on the embedded stack's Step Functions, started directly with a small budget: the
photo items are answered here first, as the enhance service answers them (so the enhance worker, which
runs on this stack, finds them ended and leaves them), then the api's consumer fans the job's chunk out
(the video to the video worker, which finds no original: ``no_files``), and the saga sees every item end
and has the api record ``enhancement.completed`` v2. A job whose items never end (its chunk never
recorded: the API commits a job's ``initialized`` and its chunks in separate commits, and could die
between them) is recorded ``timed_out``. The whole job through the enhance worker:
``test_enhancement_flow.py``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.events.codec import make_event
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _commit(stack: RunningStack, *payloads: Any, sid: str) -> None:
    events = [make_event(p, source="shoebox/test", session_id=sid) for p in payloads]
    stack.portal.call(lambda: stack.stack.log.commit(events))


def _job(
    stack: RunningStack, photos: int, videos: int, *, chunk: bool = True, ended: tuple[Any, ...] = ()
) -> tuple[str, str, list[str], list[str]]:
    """A session and an enhancement job of ``photos`` photos and ``videos`` videos as the API records one
    (its keys name files whose bytes nothing reads here), ``ended(sid, job, photo keys)``'s endings
    recorded before its chunk (none: ``chunk`` False); returns the session, the job and the keys."""
    sid, job = str(uuid.uuid4()), "enh-" + uuid.uuid4().hex[:20]
    photo_keys = [f"uploads/{sid}/p{i}.jpg" for i in range(photos)]
    video_keys = [f"uploads/{sid}/v{i}.mov" for i in range(videos)]
    keys = [*photo_keys, *video_keys]
    _commit(
        stack,
        c.SessionCreatedV2Data(owner="t", trip=c.Trip(context="saga")),
        en.EnhancementInitializedData(job_id=job, total=len(keys), photos=photos, videos=videos),
        sid=sid,
    )
    for ending in ended:
        _commit(stack, ending(sid, job, photo_keys), sid=sid)
    if chunk:
        chunk_event = c.EnhancementRequestedData(job_id=job, keys=keys, total=len(keys), videos=video_keys)
        _commit(stack, chunk_event, sid=sid)
    return sid, job, photo_keys, video_keys


def _start(stack: RunningStack, sid: str, job: str, *, polls: int) -> str:
    s = stack.stack
    names = s.settings.names
    payload = {
        "session_id": sid,
        "job_id": job,
        "attempt": 1,
        "attempt_text": "1",
        "item_polls": {"left": polls},
        "views_table": names.views_table,
        "api_queue_url": s.queue_url("api"),
    }
    return str(
        stack.portal.call(
            lambda: s.clients.sfn.start_execution(
                stateMachineArn=s.resources[names.state_machine("enhancement")],
                name=f"{job}-a1",
                input=json.dumps(payload),
            )
        )["executionArn"]
    )


def _ended(stack: RunningStack, arn: str) -> dict[str, Any]:
    s = stack.stack

    def ended() -> dict[str, Any] | None:
        d = stack.portal.call(lambda: s.clients.sfn.describe_execution(executionArn=arn))
        return dict(d) if d["status"] != "RUNNING" else None

    return eventually(ended, 150, what="the enhancement saga to end", interval_s=0.5)


def _events(stack: RunningStack, sid: str) -> list[Any]:
    return list(stack.portal.call(lambda: stack.stack.log.read_all(sid)))


def _completed(stack: RunningStack, sid: str, job: str) -> en.EnhancementCompleted:
    def completed() -> en.EnhancementCompleted | None:
        return next(
            (
                e
                for e in _events(stack, sid)
                if isinstance(e, en.EnhancementCompleted) and e.data.job_id == job
            ),
            None,
        )

    return eventually(completed, 30, what="enhancement.completed in the session's log")


def test_the_saga_records_the_job_once_every_item_ended(embedded_stack: RunningStack) -> None:
    def enhanced(sid: str, job: str, photos: list[str]) -> Any:
        return c.PhotoEnhancedData(job_id=job, key=photos[0], enhanced_key=f"enhanced/{sid}/a.jpg")

    def failed(sid: str, job: str, photos: list[str]) -> Any:
        return c.PhotoEnhanceFailedData(job_id=job, key=photos[1], code="provider_error", message="no answer")

    sid, job, _, _ = _job(embedded_stack, 2, 1, ended=(enhanced, failed))

    def fanned_out() -> list[Any] | None:
        out = [
            e
            for e in _events(embedded_stack, sid)
            if isinstance(e, (c.PhotoEnhanceRequested, c.VideoEnhanceRequested)) and e.data.job_id == job
        ]
        return out if len(out) == 3 else None

    requested = eventually(fanned_out, 60, what="the api's consumer to fan the chunk out")
    assert sorted(type(e).__name__ for e in requested) == [
        *["PhotoEnhanceRequested"] * 2,
        "VideoEnhanceRequested",
    ]
    arn = _start(embedded_stack, sid, job, polls=40)
    assert _ended(embedded_stack, arn)["status"] == "SUCCEEDED"
    done = _completed(embedded_stack, sid, job)
    assert done.source == "shoebox/api"
    d = done.data
    assert (d.status, d.total, d.done, d.failed, d.skipped, d.timed_out) == ("partial", 3, 1, 2, 0, False)


def test_items_that_never_end_time_the_job_out(embedded_stack: RunningStack) -> None:
    sid, job, _, _ = _job(embedded_stack, 1, 0, chunk=False)
    arn = _start(embedded_stack, sid, job, polls=2)
    assert _ended(embedded_stack, arn)["status"] == "SUCCEEDED"
    d = _completed(embedded_stack, sid, job).data
    assert (d.status, d.done, d.timed_out) == ("failed", 0, True)
