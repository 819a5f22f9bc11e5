"""The API's edges on the embedded stack, as uvicorn sends them over the wire: it answers its own address
by either name and nothing else (DNS rebinding), every answer says ``nosniff`` (a thumbnail too), and a
type with a header's tail is refused on the multipart route at once (it used to be a 500 after the
client's retries). The rest of the attacks are refused in process: ``tests/api/test_api_edges.py``."""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from tests.support.api import decided_status, new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def test_the_stacks_api_answers_its_own_address_only(embedded_stack: RunningStack) -> None:
    api = embedded_stack.api_url
    port = urllib.parse.urlsplit(api).port
    alice = embedded_stack.auth("alice")
    sid = new_session(api, "Rebinding", headers=alice)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert httpx.get(f"{api}/health", headers={"Host": host}).status_code == 200, host
        assert httpx.get(f"{api}/v1/sessions/{sid}", headers={"Host": host, **alice}).status_code == 200
    # a page on rebound.example whose name now resolves to 127.0.0.1: its requests carry its own name
    for host in (f"rebound.example:{port}", "rebound.example", f"localhost:{port + 1}", "localhost"):
        r = httpx.get(f"{api}/v1/sessions/{sid}", headers={"Host": host, **alice})
        assert r.status_code == 400 and "Rebinding" not in r.text, host
        signed_in = httpx.post(f"{api}/auth/local/sign-in", json={"name": "mallory"}, headers={"Host": host})
        assert signed_in.status_code == 400 and "token" not in signed_in.text, host


def test_every_answer_on_the_wire_says_nosniff(embedded_stack: RunningStack) -> None:
    api = embedded_stack.api_url
    alice = embedded_stack.auth("alice")
    sid = new_session(api, "Sniffing", headers=alice)
    photo = (TESTDATA / "photos/gps/DSCN0021.jpg").read_bytes()
    key = upload(api, sid, "a.jpg", photo, headers=alice)
    decided = eventually(lambda: decided_status(api, sid, key, headers=alice), timeout_s=60)
    assert decided["status"] == "processed", decided
    answers = {
        "thumbnail": httpx.get(f"{api}{decided['thumbnail_url']}", headers=alice),
        "json": httpx.get(f"{api}/v1/sessions/{sid}", headers=alice),
        "problem": httpx.get(f"{api}/v1/sessions/{sid}"),
        "page": httpx.get(f"{api}/"),
        "openapi": httpx.get(f"{api}/schema"),
        "wrong host": httpx.get(f"{api}/health", headers={"Host": "rebound.example"}),
    }
    assert answers["thumbnail"].headers["content-type"] == "image/jpeg"
    for what, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", what


def test_a_type_with_a_headers_tail_is_refused_on_the_multipart_route(embedded_stack: RunningStack) -> None:
    api = embedded_stack.api_url
    alice = embedded_stack.auth("alice")
    sid = new_session(api, "Injection", headers=alice)
    r = httpx.post(
        f"{api}/v1/sessions/{sid}/multipart",
        json={"name": "a.mp4", "content_type": "video/mp4\r\nX-Evil: 1", "size": 20 * 1024 * 1024},
        headers=alice,
        timeout=10,
    )
    assert r.status_code == 400 and "not a photo or video type Shoebox reads" in r.json()["detail"]
