"""The CLI's enhancement step without a stack: the API answered by a scripted transport (the job started,
followed with its ETag until it ends, cancelled when the budget runs out, the enhanced files downloaded),
and its outcome written into the report's entries."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

from shoebox_cli import enhancing
from shoebox_cli.client import ApiClient, EnhancementItem, EnhancementState
from shoebox_cli.report import Enhanced, EnhancementRun, FileEntry, Metadata, Reason

SID = "s-1"
BASE = "http://api.test"
JOB_URL = f"/v1/sessions/{SID}/enhancements/enh-1"


def item(name: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"key": f"uploads/{SID}/{name}", "name": name, "status": status, **fields}


def enhanced(name: str, changes: list[str]) -> dict[str, Any]:
    url = f"{JOB_URL}/items/{name}"
    return item(
        name,
        "enhanced",
        changes=changes,
        after_thumbnail_url=f"{url}/thumbnail",
        enhanced_url=f"{url}/file",
    )


def state(status: str, items: list[dict[str, Any]], **counts: int) -> dict[str, Any]:
    return {"job_id": "enh-1", "session_id": SID, "status": status, "total": 3, "items": items, **counts}


@dataclasses.dataclass
class Ui:
    """Records what the step shows."""

    labels: list[str] = dataclasses.field(default_factory=list)
    advanced: int = 0
    summary: str = ""

    def __enter__(self) -> Ui:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def phase(self, name: str, label: str, total: int, completed: int = 0) -> None:
        self.labels.append(label)

    def advance(self, name: str, by: int = 1) -> None:
        self.advanced += by

    def done(self, name: str, summary: str) -> None:
        self.summary = summary

    def problem(self, path: str, what: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclasses.dataclass
class Api:
    """The enhancement routes, answering GETs from ``answers`` in turn (the last one repeats); each
    answer's ETag is its index, and a GET that sends the current ETag gets a 304."""

    answers: list[dict[str, Any]]
    post_status: int = 202
    seen: list[tuple[str, str, str | None]] = dataclasses.field(default_factory=list)
    served: int = 0
    cancelled: bool = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.seen.append((method, path, request.headers.get("if-none-match")))
        if method == "POST" and path == f"/v1/sessions/{SID}/enhancements":
            assert json.loads(request.content) == {"selection_job_id": "sel-1"}
            body = {"job_id": "enh-1", "session_id": SID, "total": 3, "photos": 3, "videos": 0}
            if self.post_status != 202:
                return httpx.Response(self.post_status, json={"detail": "selection sel-1 is not complete"})
            return httpx.Response(202, json=body)
        if method == "DELETE" and path == JOB_URL:
            self.cancelled = True
            last = self.answers[-1]
            items = [
                {**i, "status": "cancelled"} if i["status"] == "queued" and not i.get("phase") else i
                for i in last["items"]
            ]
            return httpx.Response(200, json={**last, "items": items})
        if method == "GET" and path == JOB_URL:
            etag = f'"{self.served}"'
            if request.headers.get("if-none-match") == etag and self.served < len(self.answers) - 1:
                self.served += 1  # unchanged once, then the next answer
                return httpx.Response(304, headers={"etag": etag})
            if request.headers.get("if-none-match") == etag:
                return httpx.Response(304, headers={"etag": etag})
            return httpx.Response(200, json=self.answers[self.served], headers={"etag": etag})
        if method == "GET" and path.endswith(("/file", "/thumbnail")):
            name = path.split("/")[-2]
            if name == "gone.jpg":
                return httpx.Response(404, json={"detail": "no enhanced file"})
            return httpx.Response(200, content=f"{path.rsplit('/', 1)[-1]} of {name}".encode())
        return httpx.Response(404)


def run(api: Api, out: Path, *, budget_s: float = 30.0) -> tuple[enhancing.EnhancementOutcome, Ui]:
    ui = Ui()
    picks = [f"uploads/{SID}/{n}" for n in ("a.jpg", "b.heic", "c.jpg")]

    async def go() -> enhancing.EnhancementOutcome:
        transport = httpx.MockTransport(api.handler)
        async with ApiClient(BASE, token="t", transport=transport) as client:
            return await enhancing.run_enhancement(
                client, SID, "sel-1", picks, out, ui, budget_s=budget_s, poll_s=0.01
            )

    return anyio.run(go), ui


def test_a_partial_job_is_followed_with_its_etag_and_its_enhanced_files_downloaded(tmp_path: Path) -> None:
    api = Api(
        [
            state("processing", [item("a.jpg", "running", phase="creative_edit"), item("b.heic", "queued")]),
            state(
                "processing",
                [
                    enhanced("a.jpg", ["exposure +0.3 EV"]),
                    item("b.heic", "running", phase="analysis"),
                    item("c.jpg", "running", phase="analysis"),
                ],
                done=1,
            ),
            state(
                "partial",
                [
                    enhanced("a.jpg", ["exposure +0.3 EV"]),
                    enhanced("b.heic", []),
                    item("c.jpg", "failed", code="original_missing", error="the original is gone"),
                ],
                done=2,
                failed=1,
            ),
        ]
    )
    outcome, ui = run(api, tmp_path)
    assert outcome.run.status == "partial" and outcome.run.job_id == "enh-1"
    assert (outcome.run.total, outcome.run.enhanced, outcome.run.failed) == (3, 2, 1)
    a, b = (outcome.enhanced[f"uploads/{SID}/{n}"] for n in ("a.jpg", "b.heic"))
    assert a == Enhanced(
        path="enhanced/a.jpg", thumbnail="enhanced/thumbnails/a.jpg", edits=["exposure +0.3 EV"]
    )
    assert b.path == "enhanced/b.heic.jpg" and b.edits == []  # a HEIC comes back a JPEG
    assert (tmp_path / a.path).read_bytes() == b"file of a.jpg"
    assert (tmp_path / "enhanced/thumbnails/b.heic.jpg").read_bytes() == b"thumbnail of b.heic"
    assert outcome.errors == {
        f"uploads/{SID}/c.jpg": Reason(code="original_missing", message="the original is gone")
    }
    # every poll after the first sent the last ETag; unchanged answers were 304s
    gets = [etag for method, path, etag in api.seen if method == "GET" and path == JOB_URL]
    assert gets[0] is None and all(gets[1:]) and len(gets) >= 5
    # the bar counted the items ended and named the phases running
    assert ui.advanced == 3
    assert "Enhancing · 1 creative edit" in ui.labels and "Enhancing · 2 analysis" in ui.labels
    assert ui.summary == "Enhanced 2 of 3 picks (1 failed)"
    assert not api.cancelled


def test_a_job_that_outlives_the_budget_is_cancelled_and_what_came_back_is_kept(tmp_path: Path) -> None:
    api = Api(
        [
            state(
                "processing",
                [
                    enhanced("a.jpg", ["vibrance +10%"]),
                    item("b.heic", "running", phase="analysis"),
                    item("c.jpg", "queued"),
                ],
                done=1,
            )
        ]
    )
    outcome, ui = run(api, tmp_path, budget_s=0.2)
    assert api.cancelled
    assert outcome.run.status == "timed_out" and "timeout" in (outcome.run.error or "")
    assert list(outcome.enhanced) == [f"uploads/{SID}/a.jpg"] and (tmp_path / "enhanced/a.jpg").exists()
    assert outcome.errors[f"uploads/{SID}/b.heic"].code == "not_enhanced"  # running on the server
    assert outcome.errors[f"uploads/{SID}/c.jpg"].code == "cancelled"  # not started: cancelled
    assert "timeout ran out" in ui.summary


def test_a_job_that_cannot_start_or_a_file_that_cannot_be_downloaded_is_said(tmp_path: Path) -> None:
    refused, _ = run(Api([], post_status=409), tmp_path)
    assert refused.run.status == "error" and refused.run.job_id is None
    assert "not complete" in (refused.run.error or "") and len(refused.errors) == 3
    assert {r.code for r in refused.errors.values()} == {"not_enhanced"}

    gone = Api([state("done", [enhanced("a.jpg", []), enhanced("gone.jpg", []), item("c.jpg", "skipped")])])
    outcome, _ = run(gone, tmp_path)
    assert outcome.run.status == "partial"  # the job was done, but one file did not arrive
    assert outcome.errors[f"uploads/{SID}/gone.jpg"].code == "download_failed"
    assert outcome.errors[f"uploads/{SID}/c.jpg"].code == "skipped"


def test_file_names_keep_jpegs_add_jpg_to_others_and_never_collide() -> None:
    items = [
        EnhancementItem(key=f"k{i}", name=n, status="enhanced")
        for i, n in enumerate(["a.jpg", "a.heic", "B.JPEG", "a.heic.jpg", "x.png"])
    ]
    names = enhancing.file_names(items)
    assert list(names.values()) == ["a.jpg", "a.heic.jpg", "B.JPEG", "a.heic-2.jpg", "x.png.jpg"]
    videos = [
        EnhancementItem(key=f"v{i}", name=n, kind="video", status="enhanced")
        for i, n in enumerate(["a.mp4", "a.MOV", "A.MP4", "a.mov.mp4"])
    ]
    assert list(enhancing.file_names([*items[:1], *videos]).values()) == [
        "a.jpg",
        "a.mp4",
        "a.MOV.mp4",
        "A-2.MP4",
        "a.mov-2.mp4",  # a.MOV's is taken (names are compared as a case-insensitive disk does)
    ]


def test_a_video_comes_back_an_mp4_beside_its_original_preview_clip(tmp_path: Path) -> None:
    """A video pick: its enhanced MP4 and JPEG thumbnail, and its before (the original's 720p preview) read
    from the presigned GET the API hands out (``…/items/{name}/media``), without the bearer token."""
    storage_seen: list[httpx.Request] = []
    video = {**enhanced("ride.mov", ["eq brightness=+0.06", "vidstab smoothing=12"]), "kind": "video"}
    api = Api([state("done", [video, enhanced("a.jpg", [])], done=2)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.test":
            storage_seen.append(request)
            return httpx.Response(200, content=b"the preview clip", headers={"content-type": "video/mp4"})
        if request.url.path == f"{JOB_URL}/items/ride.mov/media":
            url = "http://storage.test/previews/ride.mov.mp4?X-Amz-Expires=600&X-Amz-Signature=abc"
            body = {"before": {"url": url, "media_type": "video/mp4"}, "after": None, "expires_in_s": 600}
            return httpx.Response(200, json=body)
        return api.handler(request)

    async def go() -> enhancing.EnhancementOutcome:
        async with ApiClient(BASE, token="t", transport=httpx.MockTransport(handler)) as client:
            picks = [f"uploads/{SID}/{n}" for n in ("ride.mov", "a.jpg")]
            return await enhancing.run_enhancement(
                client, SID, "sel-1", picks, tmp_path, Ui(), budget_s=30, poll_s=0.01
            )

    outcome = anyio.run(go)
    clip = outcome.enhanced[f"uploads/{SID}/ride.mov"]
    assert clip == Enhanced(
        path="enhanced/ride.mov.mp4",  # a MOV comes back an MP4
        thumbnail="enhanced/thumbnails/ride.mov.mp4.jpg",
        edits=["eq brightness=+0.06", "vidstab smoothing=12"],
        before="enhanced/before/ride.mov.mp4",
    )
    assert (tmp_path / clip.path).read_bytes() == b"file of ride.mov"
    assert (tmp_path / "enhanced/before/ride.mov.mp4").read_bytes() == b"the preview clip"
    assert [r.url.path for r in storage_seen] == ["/previews/ride.mov.mp4"]
    assert "authorization" not in storage_seen[0].headers  # the token never goes to storage
    assert outcome.enhanced[f"uploads/{SID}/a.jpg"].before is None  # a photo's before is its thumbnail


def entry(key: str | None) -> FileEntry:
    fields: dict[str, Any] = {
        "path": f"trip/{key}",
        "status": "processed",
        "reason": None,
        "kind": "photo",
        "metadata": Metadata.empty(),
        "thumbnail": None,
        "triage": None,
        "selected": None,
        "enhanced": None,
        "key": key,
        "size": 1,
        "sha256": None,
        "media_type": "image/jpeg",
    }
    return msgspec.convert(fields, FileEntry)


def test_the_outcome_lands_on_the_picks_only() -> None:
    done = Enhanced(path="enhanced/a.jpg", thumbnail=None, edits=["x"])
    why = Reason(code="failed", message="no")
    outcome = enhancing.EnhancementOutcome(
        run=EnhancementRun(job_id="enh-1", status="partial"),
        enhanced={"a": done},
        errors={"b": why},
    )
    a, b, c, d = enhancing.apply_enhancement([entry("a"), entry("b"), entry("c"), entry(None)], outcome)
    assert (a.enhanced, a.enhancement_error) == (done, None)
    assert (b.enhanced, b.enhancement_error) == (None, why)
    assert c == entry("c") and d == entry(None)
    assert enhancing.apply_enhancement([entry("a")], None) == [entry("a")]


def test_the_label_names_the_running_phases_most_first() -> None:
    def st(*phases: str | None) -> EnhancementState:
        items = [
            EnhancementItem(key=str(i), name=str(i), status="running" if p else "queued", phase=p)
            for i, p in enumerate(phases)
        ]
        return EnhancementState(job_id="j", status="processing", items=items)

    assert enhancing.phases_label(st(None, None)) == "Enhancing"
    label = enhancing.phases_label(st("analysis", "surgical_edit", "analysis", None))
    assert label == "Enhancing · 2 analysis, 1 surgical edit"


def test_the_label_says_how_far_a_video_render_is() -> None:
    """A video's ``rendering`` phase reports its percent (``video.enhance.phase``): the bar says it, as a
    range when several clips render at once."""

    def item(i: int, phase: str, percent: float | None = None) -> EnhancementItem:
        return EnhancementItem(key=str(i), name=str(i), status="running", phase=phase, phase_percent=percent)

    one = EnhancementState(
        job_id="j", status="processing", items=[item(0, "rendering", 39.6), item(1, "analysis")]
    )
    assert enhancing.phases_label(one) == "Enhancing · 1 rendering 40 %, 1 analysis"
    two = EnhancementState(
        job_id="j", status="processing", items=[item(0, "rendering", 12.0), item(1, "rendering", 40.4)]
    )
    assert enhancing.phases_label(two) == "Enhancing · 2 rendering 12–40 %"
    started = EnhancementState(job_id="j", status="processing", items=[item(0, "rendering")])
    assert enhancing.phases_label(started) == "Enhancing · 1 rendering"
