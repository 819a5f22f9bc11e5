"""An upload replaced by other bytes under the same name, on the embedded stack: the file is counted once,
as its newest upload was decided, and shows nothing of the one it replaced."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TESTDATA, RunningStack
from tests.stack.test_spine import eventually, new_session, upload

pytestmark = pytest.mark.stack


def _status(api: str, sid: str, headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{api}/v1/sessions/{sid}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_replaced_upload_counts_once_and_shows_only_its_newest_bytes(embedded_stack: RunningStack) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("replacer")
    sid = new_session(api, headers=h)
    photo = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()

    key = upload(api, sid, "a.jpg", photo, headers=h)
    first = eventually(lambda: _status(api, sid, h)["counters"]["processed"] == 1, 30, "the photo")
    assert first
    s = _status(api, sid, h)
    [f] = s["files"]
    assert f["status"] == "processed" and f["thumbnail_url"]

    upload(api, sid, "a.jpg", b"not a photo, after all\n", headers=h)  # the wrong file, same name
    s = eventually(
        lambda: (x := _status(api, sid, h)) and x["files"][0]["status"] == "rejected" and x, 30, "the text"
    )
    assert s["counters"]["processed"] == 0 and s["counters"]["rejected"] == 1
    [f] = s["files"]
    assert f["key"] == key and f["code"] == "unsupported_type"
    assert f["thumbnail_url"] is None and f["sha256"] is None and f["kind"] is None

    upload(api, sid, "a.jpg", photo, headers=h)  # the right one again: processed, not a duplicate of itself
    s = eventually(
        lambda: (x := _status(api, sid, h)) and x["files"][0]["status"] == "processed" and x, 30, "the photo"
    )
    assert (s["counters"]["processed"], s["counters"]["rejected"], s["counters"]["duplicate"]) == (1, 0, 0)

    upload(api, sid, "b.jpg", photo, headers=h)  # its bytes under another name: a duplicate of a.jpg
    s = eventually(lambda: (x := _status(api, sid, h)) and len(x["files"]) == 2 and x, 30, "b.jpg")
    b = next(f for f in s["files"] if f["name"] == "b.jpg")
    assert b["status"] == "duplicate" and b["duplicate_of"] == key
    assert (s["counters"]["processed"], s["counters"]["duplicate"]) == (1, 1)
