"""Videos through the embedded stack's video worker: a job with photos and a clip ends ``done`` with the clip
enhanced (it plays: ffprobe reads it, H.264 + AAC); and a render killed half-way (the worker SIGKILLs itself
once, ``Faults.kill_mid_render``) is completed by the retry, with no partial object ever listed under the
item's result folder (listed all through the run)."""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.emulator import free_port
from deploy.local.stack import StackConfig
from shared.events import video as vi
from shared.runtime.config import Settings
from shared.runtime.faults import Faults
from shared.runtime.inbound import ENHANCED
from tests.support.api import decided_status, new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import Observer, RunningStack, open_stack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

SOURCE = TESTDATA / "videos" / "real" / "bigbuckbunny.mp4"
PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))[:2]


def _clip(tmp: Path, seconds: float, width: int) -> bytes:
    """A real clip with audio: bigbuckbunny's first ``seconds`` at ``width`` px wide."""
    out = tmp / f"clip-{seconds}-{width}.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(SOURCE), "-t", str(seconds)),
            *("-vf", f"scale={width}:-2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(out)),
        ],
        check=True,
    )
    return out.read_bytes()


def _probe(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / "enhanced.mp4"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    )
    return dict(json.loads(out.stdout))


def _uploaded(stack: RunningStack, sid: str, files: list[tuple[str, bytes, str]]) -> list[str]:
    api, h = stack.api_url, stack.auth("video-owner")
    keys = [upload(api, sid, name, data, ctype, headers=h) for name, data, ctype in files]
    for key in keys:
        decided = functools.partial(decided_status, api, sid, key, headers=h)
        found = eventually(decided, 120, what=f"{key} decided")
        assert found["status"] == "processed", found
    return keys


def _job(stack: RunningStack, sid: str, keys: list[str]) -> str:
    r = httpx.post(
        f"{stack.api_url}/v1/sessions/{sid}/enhancements",
        json={"keys": keys},
        headers=stack.auth("video-owner"),
    )
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def _state(stack: RunningStack, sid: str, job: str) -> dict[str, Any]:
    r = httpx.get(f"{stack.api_url}/v1/sessions/{sid}/enhancements/{job}", headers=stack.auth("video-owner"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_job_with_photos_and_a_clip_ends_done_with_the_clip_enhanced(
    embedded_stack: RunningStack, tmp_path: Path
) -> None:
    s = embedded_stack
    sid = new_session(s.api_url, "Bike trip in the Alps", headers=s.auth("video-owner"))
    files = [(p.name, p.read_bytes(), "image/jpeg") for p in PHOTOS]
    files.append(("ride.mp4", _clip(tmp_path, 3, 480), "video/mp4"))
    keys = _uploaded(s, sid, files)
    job = _job(s, sid, keys)
    done = eventually(
        lambda: (st := _state(s, sid, job))["status"] != "processing" and st, 180, what="the job to end"
    )
    assert (done["status"], done["done"], done["failed"], done["skipped"]) == ("done", 3, 0, 0), done
    clip = next(i for i in done["items"] if i["name"] == "ride.mp4")
    assert clip["kind"] == "video" and clip["status"] == "enhanced" and clip["after_thumbnail_url"]
    r = httpx.get(f"{s.api_url}{clip['enhanced_url']}", headers=s.auth("video-owner"))
    assert r.status_code == 200, r.text
    info = _probe(r.content, tmp_path)
    assert {st["codec_type"]: st["codec_name"] for st in info["streams"]} == {"video": "h264", "audio": "aac"}
    assert 1.0 < float(info["format"]["duration"]) <= 3.1
    events = s.portal.call(lambda: s.stack.log.read_all(sid))
    phases = [e.data.phase for e in events if isinstance(e, vi.VideoEnhancePhase)]
    assert phases[0] == "analysing" and "rendering" in phases and phases[-1] == "uploading", phases


@pytest.fixture(scope="module")
def killing_stack(
    tmp_path_factory: pytest.TempPathFactory, suite_settings: Settings
) -> Iterator[RunningStack]:
    """A stack of real processes whose video worker SIGKILLs itself once, half-way into a render."""
    state = tmp_path_factory.mktemp("killing")
    config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        prefix="killing",
        state_dir=str(state),
        base=suite_settings,
        services=("api", "media_process", "video"),
        # the killed worker's message is received again once this passes (the heartbeat kept it hidden)
        visibility_s=6,
        faults=Faults(kill_mid_render=str(state / "killed")),
    )
    with open_stack(config, Observer()) as running:
        yield running


class Listings:
    """Every listing of a prefix taken during the run: (key, size) of each object seen."""

    def __init__(self, stack: RunningStack, prefix: str) -> None:
        self.stack, self.prefix = stack, prefix
        self.seen: set[tuple[str, int]] = set()
        self.count = 0

    def take(self) -> None:
        s = self.stack.stack
        answer = self.stack.portal.call(
            lambda: s.clients.s3.list_objects_v2(Bucket=s.settings.names.media_bucket, Prefix=self.prefix)
        )
        self.count += 1
        self.seen |= {(o["Key"], o["Size"]) for o in answer.get("Contents", [])}


def test_a_render_killed_half_way_is_completed_by_the_retry_with_no_partial_object(
    killing_stack: RunningStack, tmp_path: Path
) -> None:
    s = killing_stack
    marker = Path(s.stack.config.state_dir) / "killed"
    sid = new_session(s.api_url, headers=s.auth("video-owner"))
    # long enough for ffmpeg to report progress past half-way (it reports every 0.5 s)
    [key] = _uploaded(s, sid, [("ride.mp4", _clip(tmp_path, 4, 1280), "video/mp4")])
    job = _job(s, sid, [key])
    listings = Listings(s, f"{ENHANCED}/{sid}/{job}/")

    def ended() -> dict[str, Any] | None:
        listings.take()
        state = _state(s, sid, job)
        return state if state["status"] != "processing" else None

    done = eventually(ended, 240, what="the job to end after the retry", interval_s=0.05)
    listings.take()
    events = s.portal.call(lambda: s.stack.log.read_all(sid))
    phases = [(e.data.phase, e.data.percent) for e in events if isinstance(e, vi.VideoEnhancePhase)]
    assert marker.exists(), f"the fault never fired: the render was not killed ({phases}, {done})"
    assert (done["status"], done["done"]) == ("done", 1), done
    [item] = done["items"]
    assert item["status"] == "enhanced"

    # the worker died half-way (a rendering phase past 50 % was recorded before the kill; the retry's
    # repeated phases are refused as duplicates), and the supervisor started it again
    assert any(p == "rendering" and (pc or 0) >= 50 for p, pc in phases), phases
    worker = s.stack.supervisor.children["worker:video"] if s.stack.supervisor else None
    assert worker is not None and worker.restarts >= 1

    # no partial object ever: every object listed during the run had its final size
    final = _final(s, listings.prefix)
    partial = listings.seen - final
    assert not partial, f"objects listed before they were whole: {partial}"
    assert len(final) == 3 and listings.count > 20, (final, listings.count)  # clip, thumbnail, advice
    r = httpx.get(f"{s.api_url}{item['enhanced_url']}", headers=s.auth("video-owner"))
    info = _probe(r.content, tmp_path)
    assert 3.0 < float(info["format"]["duration"]) <= 4.1


def _final(stack: RunningStack, prefix: str) -> set[tuple[str, int]]:
    s = stack.stack
    answer = stack.portal.call(
        lambda: s.clients.s3.list_objects_v2(Bucket=s.settings.names.media_bucket, Prefix=prefix)
    )
    return {(o["Key"], o["Size"]) for o in answer.get("Contents", [])}
