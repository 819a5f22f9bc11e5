"""``finalize`` takes only names the session could still have (issue 12, item 6): the attack was a finalize
with ``expected`` 2 and ten made-up names, after which ``expected`` was -8 and all ten showed up as gaps. A
failed upload must be a plain upload name, listed once, not decided, and there can be no more of them than
expected files not decided; anything else is a 400 naming the names, and nothing changes. In process, on
the in-memory collaborators (``tests.support.app``)."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings

from services.api.auth import LocalIssuer
from services.api.wiring import Collaborators
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.inbound import is_plain_name, upload_key
from shared.runtime.log import InMemoryEventLog
from shared.runtime.read_models import CountersView, FileView, V
from tests.support.app import SETTINGS, Api, running
from tests.support.strategies import FinalizeCase, finalize_cases

COUNTERS = ("expected", "processed", "rejected", "duplicate", "deleted", "pending")


def start(api: Api, sid: str, expected: int) -> str:
    r = api.client.post(f"/v1/sessions/{sid}/triage", json={"expected": expected}, headers=api.auth())
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def finalize(api: Api, sid: str, job: str, failed: list[str], uploaded: int = 0) -> httpx.Response:
    return api.client.post(
        f"/v1/sessions/{sid}/triage/{job}/finalize",
        json={"uploaded": uploaded, "failed": failed},
        headers=api.auth(),
    )


def counters(api: Api, sid: str) -> CountersView:
    return api.run(api.log.counters, sid)


def numbers(k: CountersView) -> dict[str, int]:
    return {f: getattr(k, f) for f in COUNTERS}


def decide(api: Api, sid: str, name: str, decision: str) -> None:
    """media_process's decision of ``name`` in the log (and the user's deletion of it, for "deleted")."""
    key = upload_key(sid, name)
    ref = c.FileRef(bucket=api.store.bucket, key=key, name=name, size=1, etag=f"e-{name}")
    sha = f"sha-{sid}-{name}"
    data: Any = {
        "processed": c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256=sha),
        "deleted": c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256=sha),
        "rejected": c.FileRejectedData(file=ref, code="undecodable", message="no"),
        "duplicate": c.FileDuplicateData(file=ref, sha256=sha, duplicate_of="uploads/x/y.jpg"),
    }[decision]
    api.commit(sid, data, source="shoebox/media_process")
    if decision == "deleted":
        api.commit(sid, c.FileDeletedData(key=key, reason="confirmed", etag=ref.etag, sha256=sha))


def test_ten_made_up_names_with_two_expected_are_refused_and_change_nothing(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 2)
    before = counters(api, sid)
    made_up = [f"made-up-{i}.jpg" for i in range(10)]
    r = finalize(api, sid, job, made_up)
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == {"refused": made_up} and "made-up-0.jpg" in r.json()["detail"]
    after = counters(api, sid)
    assert numbers(after) == numbers(before) and after.expected == 2 and not after.finalized
    assert after.upload_failed == [] and all(n >= 0 for n in numbers(after).values())
    assert r.json()["errors"]["refused"]  # (and no event: the session's version did not move)
    assert after.version == before.version
    # what the session could have is still taken
    r = finalize(api, sid, job, ["made-up-0.jpg"])
    assert r.status_code == 200 and r.json()["expected"] == 1, r.text


def test_names_that_are_decided_listed_twice_or_no_upload_name_are_refused(api: Api) -> None:
    sid = api.new_session()
    job = start(api, sid, 5)
    decide(api, sid, "a.jpg", "processed")
    decide(api, sid, "b.jpg", "deleted")
    for failed, refused in [
        (["a.jpg"], ["a.jpg"]),  # it arrived and was decided: it did not fail
        (["b.jpg", "lost.jpg"], ["b.jpg"]),  # decided, then deleted
        (["lost.jpg", "lost.jpg"], ["lost.jpg"]),
        (["../a.jpg", ".x", "a/b.jpg", "lost.jpg"], ["../a.jpg", ".x", "a/b.jpg"]),
    ]:
        r = finalize(api, sid, job, failed)
        assert r.status_code == 400 and r.json()["errors"] == {"refused": refused}, (failed, r.text)
    assert not counters(api, sid).finalized
    r = finalize(api, sid, job, ["lost.jpg", "gone.jpg", "away.jpg"])
    assert r.status_code == 200 and r.json()["expected"] == 2, r.text
    k = counters(api, sid)
    assert (k.expected, k.processed, k.finalized, k.upload_failed) == (
        2,
        2,
        True,
        ["lost.jpg", "gone.jpg", "away.jpg"],
    )


@settings(max_examples=60, deadline=None)
@given(finalize_cases())
def test_a_finalize_takes_exactly_the_names_the_session_could_have_and_no_counter_goes_negative(
    api: Api, case: FinalizeCase
) -> None:
    sid = api.new_session()
    job = start(api, sid, case.expected)
    for name, decision in case.decided.items():
        decide(api, sid, name, decision)
    before = counters(api, sid)
    r = finalize(api, sid, job, case.failed)
    after = counters(api, sid)

    seen = collections.Counter(case.failed)
    refused = {n for n in seen if seen[n] > 1 or not is_plain_name(n) or n in case.decided}
    undecided = max(0, case.expected - len(case.decided))
    if refused:
        assert r.status_code == 400 and r.json()["errors"] == {"refused": sorted(refused)}, r.text
    elif len(case.failed) > undecided:
        assert r.status_code == 400 and r.json()["errors"] == {"refused": case.failed}, r.text
    else:
        assert r.status_code == 200, r.text
        assert after.expected == r.json()["expected"] == case.expected - len(case.failed)
        decided = after.processed + after.rejected + after.duplicate
        assert not case.failed or after.expected >= decided  # the names failed never outnumber the rest
        assert after.finalized and after.upload_failed == case.failed
    if r.status_code == 400:
        assert (numbers(after), after.finalized, after.version) == (numbers(before), False, before.version)
    assert all(n >= 0 for n in numbers(after).values()), numbers(after)
    if r.status_code == 200:  # once only: a second finalize changes nothing
        assert finalize(api, sid, job, case.failed).status_code == 200
        assert numbers(counters(api, sid)) == numbers(after)


class DecidingMeanwhile(InMemoryEventLog):
    """The in-memory log, where a file named as failed is decided while finalize reads the names: the
    decision lands between finalize's reads and its commit."""

    def __init__(self) -> None:
        super().__init__()
        self.decide: c.FileProcessedData | None = None

    async def get_views(self, keys: Any, *, type: type[V]) -> list[V]:
        found = await super().get_views(keys, type=type)
        if type is FileView and self.decide is not None:
            data, self.decide = self.decide, None
            sid = keys[0].pk.removeprefix("SESSION#")
            await self.commit([make_event(data, source="shoebox/media_process", session_id=sid)])
        return found


@pytest.fixture
def racing(issuer: LocalIssuer) -> Iterator[tuple[Api, DecidingMeanwhile]]:
    log = DecidingMeanwhile()
    with running(issuer, msgspec.structs.replace(Collaborators.in_memory(SETTINGS), log=log)) as api:
        yield api, log


def test_a_name_decided_between_the_check_and_the_commit_is_refused(
    racing: tuple[Api, DecidingMeanwhile],
) -> None:
    """finalize commits only if no event landed since it read the counters: here the named file is
    decided meanwhile, so it checks again and finds it decided."""
    api, log = racing
    sid = api.new_session()
    job = start(api, sid, 2)
    key = upload_key(sid, "late.jpg")
    ref = c.FileRef(bucket=api.store.bucket, key=key, name="late.jpg", size=1, etag="e")
    log.decide = c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256="s")
    r = finalize(api, sid, job, ["late.jpg"])
    assert r.status_code == 400 and r.json()["errors"] == {"refused": ["late.jpg"]}, r.text
    k = counters(api, sid)
    assert (k.expected, k.processed, k.finalized) == (2, 1, False)
