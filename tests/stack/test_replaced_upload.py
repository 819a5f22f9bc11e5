"""An upload replaced by other bytes under the same name and then by its first bytes again, on the embedded
stack: S3 announces each write (the third has the first's ETag, told apart by S3's sequencer), so the
file is decided again each time, counted once, as its newest upload was decided. The rules themselves
(what a replaced upload shows, duplicates under another name) are tested in process
(``tests/api/test_api_sessions.py``, ``tests/media/test_media_handlers.py``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _status(api: str, sid: str, headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{api}/v1/sessions/{sid}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _events(api: str, sid: str, headers: dict[str, str]) -> list[tuple[str, object]]:
    """The session's log, for a failure message: each event's type and what it says about the file."""
    r = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=headers)
    return [(e["type"], (e["data"].get("file") or {})) for e in r.json()["events"]]


def _when(api: str, sid: str, h: dict[str, str], name: str, status: str, **counts: int) -> dict[str, Any]:
    """The session once ``name`` reads ``status`` and the counters ``counts``. The status is two reads
    (counters, then files), so one poll can fall between the items of a commit: wait for both."""

    def probe() -> dict[str, Any] | None:
        s = _status(api, sid, h)
        files = {f["name"]: f["status"] for f in s["files"]}
        settled = files.get(name) == status and all(s["counters"][k] == v for k, v in counts.items())
        return s if settled else None

    return eventually(probe, 30, f"{name} {status}, counters {counts}")


def test_each_write_of_a_name_is_decided_again_even_with_the_bytes_of_an_earlier_one(
    embedded_stack: RunningStack,
) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("replacer")
    sid = new_session(api, headers=h)
    photo = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()

    key = upload(api, sid, "a.jpg", photo, headers=h)
    s = _when(api, sid, h, "a.jpg", "processed", processed=1)
    [f] = s["files"]
    assert f["status"] == "processed" and f["thumbnail_url"]

    upload(api, sid, "a.jpg", b"not a photo, after all\n", headers=h)  # the wrong file, same name
    s = _when(api, sid, h, "a.jpg", "rejected", rejected=1)
    assert s["counters"]["processed"] == 0, _events(api, sid, h)
    [f] = s["files"]
    assert f["key"] == key and f["status"] == "rejected" and f["code"] == "unsupported_type"
    assert f["thumbnail_url"] is None and f["sha256"] is None and f["kind"] is None

    upload(api, sid, "a.jpg", photo, headers=h)  # the right one again: processed, not a duplicate of itself
    s = _when(api, sid, h, "a.jpg", "processed", processed=1)
    assert (s["counters"]["rejected"], s["counters"]["duplicate"]) == (0, 0), _events(api, sid, h)
    assert s["files"][0]["status"] == "processed"
