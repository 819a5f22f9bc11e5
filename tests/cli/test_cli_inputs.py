"""Which files a job takes, their content types, their upload names; the API client's edges."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest

from shared.runtime.inbound import is_plain_name
from shoebox_cli import inputs
from shoebox_cli.client import ApiClient, ApiUnreachable, Ticket, UploadRefused, problem_message


def touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_scan_takes_every_regular_file_sorted_and_skips_hidden_ones_and_the_output(tmp_path: Path) -> None:
    for rel in (
        "b.jpg",
        "a/c.mp4",
        "a/b/d.png",
        ".hidden.jpg",
        ".git/x.jpg",
        "a/.DS_Store",
        "out/report.json",
        "z.txt",
    ):
        touch(tmp_path / rel)
    found = inputs.scan(tmp_path, exclude=[tmp_path / "out"])
    assert [f.path for f in found] == ["a/b/d.png", "a/c.mp4", "b.jpg", "z.txt"]
    assert [f.content_type for f in found] == ["image/png", "video/mp4", "image/jpeg", "text/plain"]
    assert [f.readable for f in found] == [True, True, True, False]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_1.HEIC", "image/heic"),
        ("clip.MOV", "video/quicktime"),
        ("phone.3gp", "video/3gpp"),
        ("cam.MTS", "video/mp2t"),
        ("old.JFIF", "image/jpeg"),
        ("noext", "application/octet-stream"),
        ("notes.md", "text/markdown"),
    ],
)
def test_content_type_comes_from_the_name(name: str, expected: str) -> None:
    assert inputs.content_type(name) == expected


@pytest.mark.parametrize(
    "path",
    [
        "a/b/IMG 1.jpg",
        "été à Lisbonne.jpg",
        "_private.jpg",
        "-dash.jpg",
        "a..b...c.jpg",
        "x" * 300 + ".jpg",
        "(1).jpg",
        "ok+plus.jpg",
    ],
)
def test_upload_names_are_ones_the_api_accepts(path: str) -> None:
    name = inputs.plain_name(path)
    assert is_plain_name(name), name  # the API's rule


def test_upload_names_are_unique_and_stable_across_a_resume() -> None:
    paths = ["a/DSC1.jpg", "b/DSC1.jpg", "c/dsc1.JPG", "DSC1 (2).jpg"]
    first = inputs.assign_names(paths, {})
    assert len({n.lower() for n in first.values()}) == len(paths)
    assert first["a/DSC1.jpg"] == "DSC1.jpg" and first["b/DSC1.jpg"] == "DSC1 (2).jpg"
    # a resumed job keeps the names it used, even one a fresh run would not choose
    again = inputs.assign_names(paths, {"b/DSC1.jpg": "DSC1 (7).jpg"})
    assert again["b/DSC1.jpg"] == "DSC1 (7).jpg" and again["a/DSC1.jpg"] == "DSC1.jpg"
    assert len({n.lower() for n in again.values()}) == len(paths)
    # ... and when the file that took the plain name is gone, the kept one does not move to it
    assert inputs.assign_names(paths[1:], {"b/DSC1.jpg": first["b/DSC1.jpg"]})["b/DSC1.jpg"] == "DSC1 (2).jpg"


def test_sha256_of_a_file(tmp_path: Path) -> None:
    touch(tmp_path / "f", b"abc")
    assert inputs.sha256_file(str(tmp_path / "f")) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# ----------------------------------------------------------------------------- the API client
def test_problem_message_prefers_the_specific_text() -> None:
    # the API currently puts the explanation in "title" and the status phrase in "detail"
    r = httpx.Response(
        400,
        json={"status": 400, "title": "'text/plain' is not a photo or video type", "detail": "Bad Request"},
    )
    assert problem_message(r) == "'text/plain' is not a photo or video type"
    r = httpx.Response(400, json={"status": 400, "title": "Bad Request", "detail": "the name must be plain"})
    assert problem_message(r) == "the name must be plain"
    assert problem_message(httpx.Response(502, text="")) == "Bad Gateway"


def test_client_retries_transient_answers_and_keeps_the_token_off_presigned_urls(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    answers = iter([503, 201])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/uploads"):
            status = next(answers)
            body = {
                "key": "uploads/s/a.jpg",
                "url": "http://store.test/bucket/a.jpg?sig=1",
                "method": "PUT",
                "headers": {"Content-Type": "image/jpeg"},
                "expires_in_s": 900,
            }
            return httpx.Response(status, json=body if status == 201 else {"title": "busy"})
        if request.url.host == "store.test":
            assert request.read() == b"hello"
            return httpx.Response(200)
        return httpx.Response(404)

    touch(tmp_path / "a.jpg", b"hello")

    async def go() -> Ticket:
        async with ApiClient(
            "http://api.test", token="T", transport=httpx.MockTransport(handler), backoff_s=0
        ) as api:
            ticket = await api.request_upload("s", "a.jpg", "image/jpeg", 5)
            await api.put(ticket, tmp_path / "a.jpg", 5)
            return ticket

    ticket = anyio.run(go)
    assert ticket.key == "uploads/s/a.jpg"
    assert [r.url.host for r in seen] == ["api.test", "api.test", "store.test"]
    assert seen[0].headers["authorization"] == "Bearer T"
    assert "authorization" not in seen[2].headers
    assert seen[2].headers["content-length"] == "5" and seen[2].headers["content-type"] == "image/jpeg"
    assert json.loads(seen[0].content) == {"name": "a.jpg", "content_type": "image/jpeg", "size": 5}


def test_client_says_when_the_api_refuses_or_is_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.test":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(
            400, json={"title": "'text/plain' is not a photo or video type", "detail": "Bad Request"}
        )

    async def refused() -> None:
        async with ApiClient("http://api.test", transport=httpx.MockTransport(handler)) as api:
            await api.request_upload("s", "a.txt", "text/plain", 1)

    with pytest.raises(UploadRefused, match="not a photo or video type"):
        anyio.run(refused)

    async def down() -> None:
        async with ApiClient("http://down.test", transport=httpx.MockTransport(handler), backoff_s=0) as api:
            await api.health()

    with pytest.raises(ApiUnreachable, match=r"cannot reach http://down\.test"):
        anyio.run(down)


def test_client_rides_out_an_api_restart_once_it_has_reached_the_api() -> None:
    """An API that answered once and then drops connections for longer than ``attempts`` (a supervisor
    restarting it after a crash) is waited for, up to ``outage_s``; one never reached fails fast."""
    down = {"left": 10}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/v1/sessions" and down["left"] > 0:
            down["left"] -= 1
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/v1/sessions":
            return httpx.Response(201, json={"session_id": "s1"})
        return httpx.Response(200, json={"status": "ok"})

    async def restarted() -> str:
        async with ApiClient("http://api.test", transport=httpx.MockTransport(handler), backoff_s=0) as api:
            await api.health()
            return await api.create_session("trip")

    assert anyio.run(restarted) == "s1"
    assert seen.count("/v1/sessions") == 11, "ten refused connections, then the answer"

    async def gone_for_good() -> None:
        down["left"] = 10**9
        async with ApiClient(
            "http://api.test", transport=httpx.MockTransport(handler), backoff_s=0, outage_s=0.2
        ) as api:
            await api.health()
            await api.create_session("trip")

    with pytest.raises(ApiUnreachable, match=r"cannot reach http://api\.test"):
        anyio.run(gone_for_good)
