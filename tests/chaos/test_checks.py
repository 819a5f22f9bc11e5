"""The chaos runs' checks can fail: each is shown a run with the fault it looks for (no stack needed)."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import msgspec
import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.log import InMemoryEventLog
from shared.runtime.projections import counters_key
from shared.runtime.views import ViewUpdate
from tests.chaos import checks
from tests.chaos.checks import FileOutcome, Findings, Outcome, Uploaded


def decision(sid: str, key: str, sha: str) -> Any:
    ref = c.FileRef(bucket="b", key=key, name=key.rsplit("/", 1)[-1], size=1, etag="e")
    return make_event(
        c.FileDuplicateData(file=ref, sha256=sha, duplicate_of="uploads/x/first.jpg"),
        source="shoebox/media_process",
        session_id=sid,
    )


def test_a_read_model_that_is_not_its_rebuild_is_found() -> None:
    sid = str(uuid.uuid4())
    log = InMemoryEventLog()

    async def go() -> tuple[list[str], list[str]]:
        await log.commit([decision(sid, f"uploads/{sid}/a.jpg", "s1")])
        clean = await checks.read_model_mismatches(log, sid)
        # a read-model change that no event explains (a broken projection writes one)
        await log.commit([], views=[ViewUpdate(key=counters_key(sid), add={"duplicate": 1})])
        return clean, await checks.read_model_mismatches(log, sid)

    clean, broken = anyio.run(go)
    assert clean == []
    assert len(broken) == 1 and broken[0].startswith("COUNTERS") and "duplicate" in broken[0]


def test_a_decision_doubled_or_missing_and_a_message_given_up_are_found() -> None:
    sid = str(uuid.uuid4())
    a, b = f"uploads/{sid}/a.jpg", f"uploads/{sid}/b.jpg"
    failed = make_event(
        c.MessageFailedData(
            service="media_process",
            queue="q",
            dead_letter_queue="dlq",
            message_id="m",
            receive_count=5,
            event_id=None,
            event_type="s3.object.created",
            error_type="WorkerLost",
            error="no worker finished it",
        ),
        source="shoebox/media_process",
        session_id=sid,
    )
    findings = Findings()
    uploads = {a: Uploaded("a.jpg", "s1"), b: Uploaded("b.jpg", "s2")}
    checks.check_log([decision(sid, a, "s1"), decision(sid, a, "s1"), failed], uploads, findings)
    assert findings.doubled == ["a.jpg: 2 decisions for " + a]
    assert findings.stuck == [f"b.jpg: uploaded as {b}, never decided"]
    assert len(findings.given_up) == 1 and findings.total() == 3


def test_a_message_handled_twice_is_found_in_the_workers_logs() -> None:
    records = [
        {"message": "handled", "session_id": "s", "service": "media_process", "message_key": "k1"},
        {
            "message": "already handled, skipping",
            "session_id": "s",
            "service": "media_process",
            "message_key": "k1",
        },
        {"message": "handled", "session_id": "s", "service": "selection", "message_key": "k2"},
        {"message": "handled", "session_id": "s", "service": "selection", "message_key": "k2"},
        {"message": "handled", "session_id": "other", "service": "selection", "message_key": "k3"},
        {"message": "handled", "session_id": "other", "service": "selection", "message_key": "k3"},
    ]
    assert checks.handled_twice(records, "s") == ["selection: k2 handled 2 times"]
    # k4: committed by a worker killed before it could say so; found handled on its redelivery
    records.append({"message": "already handled, skipping", "session_id": "s", "message_key": "k4"})
    assert checks.died_after_commit(records, "s") == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda o: o, 0),
        # the same decisions in another order (the pair with the same bytes decided the other way round
        # is the same outcome: names are not compared, contents are)
        (lambda o: msgspec.structs.replace(o, files=list(reversed(o.files))), 0),
        (lambda o: msgspec.structs.replace(o, counters={**o.counters, "processed": 3}), 1),
        (lambda o: msgspec.structs.replace(o, files=o.files[1:]), 1),
        (
            lambda o: msgspec.structs.replace(
                o, files=[*o.files[:2], FileOutcome("s2", "rejected", "empty")]
            ),
            1,
        ),
    ],
)
def test_a_run_is_compared_with_the_clean_one_by_content(change: Any, expected: int) -> None:
    clean = Outcome(
        files=sorted(
            [
                FileOutcome("s1", "processed", None, "keep", "sharp"),
                FileOutcome("s1", "duplicate", None),
                FileOutcome("s2", "rejected", "undecodable"),
            ]
        ),
        counters={"processed": 1, "duplicate": 1, "rejected": 1},
        job_status="complete",
        keep=1,
        discard=0,
        gaps=["s2"],
    )
    assert len(checks.compare(clean, change(clean), {"s1": "a.jpg", "s2": "b.jpg"})) == expected
