"""The whole triage over the public API: init -> uploads -> per-file progress -> verdicts without any
further call -> confirm deletes exactly the chosen originals -> cleanup leaves nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _photos(n: int) -> list[Path]:
    files = sorted((TESTDATA / "photos").glob("gps/*.jpg")) + sorted(
        (TESTDATA / "photos").glob("cameras/*.jpg")
    )
    files += sorted((TESTDATA / "photos").glob("orientation/*.jpg")) + sorted(
        (TESTDATA / "photos").glob("heic/*")
    )
    assert len(files) >= n
    return files[:n]


def _results(api: str, sid: str, job: str, h: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{api}/v1/sessions/{sid}/triage/{job}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _objects(stack: RunningStack, sid: str) -> list[str]:
    s = stack.stack

    async def keys() -> list[str]:
        out: list[str] = []
        paginator = s.clients.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=s.settings.names.media_bucket):
            out += [o["Key"] for o in page.get("Contents", []) if f"/{sid}/" in o["Key"]]
        return out

    return stack.portal.call(keys)


def test_triage_end_to_end_over_the_api(embedded_stack: RunningStack) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("trip-owner")
    sid = new_session(api, "Weekend in Kyoto", headers=h)
    r = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": 36}, headers=h)
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    started = time.monotonic()
    black = pyvips.Image.black(1200, 900, bands=3).jpegsave_buffer(Q=85)
    blurred = pyvips.Image.new_from_file(str(TESTDATA / "photos" / "gps" / "DSCN0040.jpg")).gaussblur(12)
    upload(api, sid, "pocket.jpg", bytes(black), "image/jpeg", headers=h)
    upload(api, sid, "smear.jpg", bytes(blurred.jpegsave_buffer(Q=85)), "image/jpeg", headers=h)
    sent = {"pocket.jpg", "smear.jpg"}
    for i, p in enumerate(_photos(34)):
        name = p.name if p.parent.name != "orientation" else f"o-{p.name}"
        upload(
            api,
            sid,
            name,
            p.read_bytes(),
            "image/heic" if p.suffix.lower() in (".heic", ".heif") else "image/jpeg",
            headers=h,
        )
        sent.add(name)
        if i == 18:  # 21 of 36 uploaded: the job cannot complete before the rest arrive
            progress = eventually(
                lambda: (
                    (res := _results(api, sid, job, h))["status"] in ("pending", "processing")
                    and 1 <= len(res["files"]) < 36
                    and res
                ),
                timeout_s=120,
                what="per-file progress before the job completes",
            )
            assert {f["name"] for f in progress["files"]} <= sent, progress["files"]

    done = eventually(
        lambda: (res := _results(api, sid, job, h))["status"] == "complete" and res,
        timeout_s=240,
        what="verdicts",
    )
    assert len(done["keep"]) + len(done["discard"]) == 36
    print(
        f"36 files to verdicts in {time.monotonic() - started:.1f}s: {len(done['keep'])} keep, "
        f"{len(done['discard'])} discard"
    )
    assert all(v["reason"] and 0 <= v["confidence"] <= 1 for v in done["keep"] + done["discard"])

    discarded = sorted(v["name"] for v in done["discard"])
    assert {"pocket.jpg", "smear.jpg"} <= set(discarded), discarded
    keep_key = done["keep"][0]["key"]
    r = httpx.post(
        f"{api}/v1/sessions/{sid}/triage/{job}/confirm", json={"delete_keys": [keep_key]}, headers=h
    )
    assert (
        r.status_code == 200 and r.json()["deleted"] == [] and r.json()["errors"]
    )  # a keep is never deleted
    chosen = [v["key"] for v in done["discard"] if v["name"] in ("pocket.jpg", "smear.jpg")]
    r = httpx.post(f"{api}/v1/sessions/{sid}/triage/{job}/confirm", json={"delete_keys": chosen}, headers=h)
    assert r.status_code == 200 and sorted(r.json()["deleted"]) == sorted(chosen)
    remaining = [k for k in _objects(embedded_stack, sid) if k.startswith("uploads/")]
    assert len(remaining) == 36 - len(chosen) and not set(chosen) & set(remaining)

    r = httpx.delete(f"{api}/v1/sessions/{sid}/artifacts", headers=h)
    assert r.status_code == 200, r.text
    assert _objects(embedded_stack, sid) == []


def test_two_corrupt_files_and_one_that_never_uploads_end_with_33_verdicts_and_3_named_gaps(
    embedded_stack: RunningStack,
) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("gap-owner")
    sid = new_session(api, "gaps", headers=h)
    job = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": 36}, headers=h).json()["job_id"]
    started = time.monotonic()
    for p in _photos(33):
        upload(
            api,
            sid,
            f"{p.parent.name}-{p.name}",
            p.read_bytes(),
            "image/heic" if p.suffix.lower() in (".heic", ".heif") else "image/jpeg",
            headers=h,
        )
    corrupt = (TESTDATA / "photos" / "broken" / "corrupted.jpg").read_bytes()
    upload(api, sid, "corrupt-1.jpg", corrupt, "image/jpeg", headers=h)
    upload(api, sid, "corrupt-2.jpg", corrupt[: len(corrupt) // 3], "image/jpeg", headers=h)
    r = httpx.post(
        f"{api}/v1/sessions/{sid}/triage/{job}/finalize",
        json={"uploaded": 35, "failed": ["lost.jpg"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    done = eventually(
        lambda: (res := _results(api, sid, job, h))["status"] == "complete" and res,
        timeout_s=240,
        what="verdicts",
    )
    elapsed = time.monotonic() - started
    assert len(done["keep"]) + len(done["discard"]) == 33
    assert sorted(done["gaps"]) == ["corrupt-1.jpg", "corrupt-2.jpg", "lost.jpg"]
    print(f"33 verdicts + 3 gaps in {elapsed:.1f}s")


def test_a_failed_triage_is_retried_without_reuploading(embedded_stack: RunningStack) -> None:
    from shared.events import catalogue as c
    from shared.events.codec import make_event

    api, h = embedded_stack.api_url, embedded_stack.auth("retrier")
    sid = new_session(api, "retry", headers=h)
    job = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": 1}, headers=h).json()["job_id"]
    r = httpx.post(f"{api}/v1/sessions/{sid}/triage/{job}/retry", headers=h)
    assert r.status_code == 409  # nothing failed yet
    photo = TESTDATA / "photos" / "gps" / "DSCN0029.jpg"
    upload(api, sid, photo.name, photo.read_bytes(), headers=h)
    eventually(lambda: _results(api, sid, job, h)["status"] == "complete", timeout_s=120, what="attempt 1")
    # the provider failed on a later look (recorded as selection would), and the user asks again
    failed = make_event(
        c.TriageFailedData(job_id=job, attempt=1, code="provider_error", message="quota"),
        source="shoebox/selection",
        session_id=sid,
    )
    embedded_stack.portal.call(lambda: embedded_stack.stack.log.commit([failed]))
    assert _results(api, sid, job, h)["status"] == "error"
    r = httpx.post(f"{api}/v1/sessions/{sid}/triage/{job}/retry", headers=h)
    assert r.status_code == 202 and r.json()["attempt"] == 2, r.text
    done = eventually(
        lambda: (res := _results(api, sid, job, h))["status"] == "complete" and res,
        timeout_s=120,
        what="attempt 2",
    )
    assert done["attempt"] == 2 and len(done["keep"]) + len(done["discard"]) == 1
    uploads = [k for k in _objects(embedded_stack, sid) if k.startswith("uploads/")]
    assert uploads == [f"uploads/{sid}/{photo.name}"]  # nothing uploaded again
