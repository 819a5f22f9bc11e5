"""A deleted file (a cleanup, a confirmed discard) stays in the session's status as deleted, with no
thumbnail offered: its thumbnail route answers 404, not an error from storage."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def test_after_a_cleanup_a_file_shows_deleted_and_offers_no_thumbnail(embedded_stack: RunningStack) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth("cleaner")
    sid = new_session(api, headers=h)
    upload(api, sid, "a.jpg", (TESTDATA / "photos/gps/DSCN0021.jpg").read_bytes(), headers=h)

    def file() -> dict[str, object] | None:
        files = httpx.get(f"{api}/v1/sessions/{sid}", headers=h).json()["files"]
        return files[0] if files else None

    before = eventually(lambda: (f := file()) and f["thumbnail_url"] and f, 30, "the thumbnail")
    thumb = f"{api}{before['thumbnail_url']}"
    assert httpx.get(thumb, headers=h).status_code == 200
    assert before["deleted"] is False

    r = httpx.delete(f"{api}/v1/sessions/{sid}/artifacts", headers=h)
    assert r.status_code == 200 and r.json()["deleted_objects"] >= 2  # the original and its thumbnail
    after = eventually(lambda: (f := file()) and f["deleted"] and f, 15, "the deletion")
    assert after["thumbnail_url"] is None and after["status"] == "processed"
    gone = httpx.get(thumb, headers=h)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")
