"""The same bytes PUT again under their name, on the embedded stack (a client retrying a PUT that timed out
does this): S3 announces the second write with a new sequencer, so it is a new message, and media_process
must find the file already decided for those bytes, whatever its decision. One decision event per file, and
counters that count each file once (issue 11, item 4: ``rejected: 2`` for one file and ``duplicate: 6`` for
five files before). Every sequence of writes, deletions and redeliveries is the in-process property test's
(``tests/contracts/test_decision_properties.py``)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

PHOTO = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()
NOT_A_PHOTO = b"not a photo, after all\n"
DECISIONS = (
    "shoebox.media.file.processed.v1",
    "shoebox.media.file.rejected.v2",
    "shoebox.media.file.duplicate.v1",
)


def _handled_writes(stack: RunningStack, key: str, etag: str) -> int:
    """How many announcements of a write of ``key`` with ``etag`` media_process has finished: the tracking
    records its commits wrote (one per message, with or without events, in the commit's transaction; their
    key is the upload's idempotency key, ``s3:<bucket>/<key>@<etag>~<sequencer>``)."""
    s = stack.stack
    names = stack.settings.names
    prefix = f"TRACK#media_process#s3:{names.media_bucket}/{key}@{etag}~"

    async def count() -> int:
        # every page: a scan reads at most 1 MB a call, and the suite's table is larger than that
        total = 0
        pages = s.clients.dynamodb.get_paginator("scan").paginate(
            TableName=names.events_table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": prefix}},
            Select="COUNT",
        )
        async for page in pages:
            total += int(page["Count"])
        return total

    return stack.portal.call(count)


def test_the_same_bytes_put_again_are_decided_once_for_every_decision(embedded_stack: RunningStack) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("repeater")
    sid = new_session(api, headers=h)
    files = {"a.jpg": PHOTO, "b.jpg": PHOTO, "c.jpg": NOT_A_PHOTO}  # processed, duplicate of a, rejected
    keys = {"a.jpg": upload(api, sid, "a.jpg", PHOTO, headers=h)}
    embedded_stack.observer.wait_for(keys["a.jpg"])  # a.jpg decided first, so b.jpg is its duplicate
    for name in ("b.jpg", "c.jpg"):
        keys[name] = upload(api, sid, name, files[name], headers=h)
    decided = {name: embedded_stack.observer.wait_for(key)[0] for name, key in keys.items()}
    assert [type(decided[n]).type_name() for n in files] == [DECISIONS[0], DECISIONS[2], DECISIONS[1]]

    for name, data in files.items():  # each PUT again, byte for byte: a new S3 write of the same ETag
        upload(api, sid, name, data, headers=h)
    for name, key in keys.items():
        etag = decided[name].data.file.etag

        def both(key: str = key, etag: str = etag) -> bool:
            return _handled_writes(embedded_stack, key, etag) >= 2

        eventually(both, 60, f"{name}'s second write handled")

    events = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=h).json()["events"]
    decisions = [(e["type"], e["data"]["file"]["name"]) for e in events if e["type"] in DECISIONS]
    assert sorted(decisions) == sorted(
        [(DECISIONS[0], "a.jpg"), (DECISIONS[2], "b.jpg"), (DECISIONS[1], "c.jpg")]
    ), decisions
    status = httpx.get(f"{api}/v1/sessions/{sid}", headers=h).json()
    counters = status["counters"]
    assert (counters["processed"], counters["rejected"], counters["duplicate"]) == (1, 1, 1), counters
    assert sorted((f["name"], f["status"]) for f in status["files"]) == [
        ("a.jpg", "processed"),
        ("b.jpg", "duplicate"),
        ("c.jpg", "rejected"),
    ]
