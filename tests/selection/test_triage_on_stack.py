"""The selection service on the embedded stack: a ``triage.requested`` in the log becomes verdicts in S3 and
``triage.completed``, through the relay, the bus, the queue and the worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import pyvips

from services.selection import results
from shared.events import catalogue as c
from shared.events.codec import make_event
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _commit(stack: RunningStack, payload: Any, sid: str) -> None:
    event = make_event(payload, source="shoebox/test", session_id=sid)
    stack.portal.call(lambda: stack.stack.log.commit([event]))


def _put(stack: RunningStack, key: str, data: bytes) -> None:
    s = stack.stack
    stack.portal.call(
        lambda: s.clients.s3.put_object(Bucket=s.settings.names.media_bucket, Key=key, Body=data)
    )


async def _read(stack: Any, key: str) -> bytes:
    r = await stack.clients.s3.get_object(Bucket=stack.settings.names.media_bucket, Key=key)
    async with r["Body"] as body:
        return bytes(await body.read())


def _wait_for(stack: RunningStack, sid: str, kind: type[Any], n: int, timeout_s: float = 60) -> list[Any]:
    def found() -> list[Any] | None:
        events = [e for e in stack.portal.call(lambda: stack.stack.log.read_all(sid)) if isinstance(e, kind)]
        return events if len(events) >= n else None

    return eventually(found, timeout_s, what=f"{n} {kind.__name__} event(s)", interval_s=0.3)


def test_a_triage_request_on_the_stack_ends_with_verdicts_in_s3(embedded_stack: RunningStack) -> None:
    sid, job = str(uuid.uuid4()), "triage-" + uuid.uuid4().hex
    _commit(embedded_stack, c.SessionCreatedV2Data(owner="t", trip=c.Trip(context="stack")), sid)
    black = pyvips.Image.black(1200, 900, bands=3).jpegsave_buffer(Q=90)
    _put(embedded_stack, f"uploads/{sid}/a.jpg", (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes())
    _put(embedded_stack, f"uploads/{sid}/b.jpg", bytes(black))
    _put(embedded_stack, f"uploads/{sid}/c.txt", b"not a photo")
    _wait_for(embedded_stack, sid, c.FileProcessed, 2)
    _wait_for(embedded_stack, sid, c.FileRejected, 1)
    request = c.TriageRequestedData(job_id=job, attempt=1, expected=3, processed=2, rejected=1, duplicate=0)
    _commit(embedded_stack, request, sid)

    [done] = _wait_for(embedded_stack, sid, c.TriageCompleted, 1)
    assert (done.data.keep, done.data.discard, done.data.provider) == (1, 1, "offline")
    assert done.source == "shoebox/selection"
    written = results.decode(
        embedded_stack.portal.call(lambda: _read(embedded_stack.stack, done.data.results_key))
    )
    assert [(v.key.rsplit("/", 1)[-1], v.verdict) for v in written.verdicts] == [
        ("a.jpg", "keep"),
        ("b.jpg", "discard"),
    ]
