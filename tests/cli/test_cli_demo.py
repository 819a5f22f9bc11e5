"""The generated sample trip, and ``shoebox demo`` end to end on it (its own embedded stack)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips

from shoebox_cli import samples
from tests.support.paths import ROOT


def test_the_sample_trip_has_each_kind_of_file(tmp_path: Path) -> None:
    made = samples.generate(tmp_path / "samples")
    names = {p.relative_to(tmp_path / "samples").as_posix() for p in made}
    assert all(p.is_file() for p in made)
    expected = {
        "lisbon-sunset.jpg",
        "harbour.jpg",
        "tiles.jpg",
        "tower-portrait.jpg",
        "map.png",
        "broken.jpg",
        "notes.jpg",
        "shared/harbour.jpg",
    }
    assert expected <= names
    for name in ("lisbon-sunset.jpg", "harbour.jpg", "tiles.jpg", "tower-portrait.jpg"):
        image = pyvips.Image.new_from_file(str(tmp_path / "samples" / name))
        assert image.get("vips-loader") == "jpegload"
        assert image.get("exif-ifd0-Make")
    sideways = pyvips.Image.new_from_file(str(tmp_path / "samples" / "tower-portrait.jpg"))
    assert (sideways.width, sideways.height, sideways.get("orientation")) == (1200, 800, 6)
    assert pyvips.Image.new_from_file(str(tmp_path / "samples" / "map.png")).get("vips-loader") == "pngload"
    broken = (tmp_path / "samples" / "broken.jpg").read_bytes()
    assert broken.startswith(b"\xff\xd8\xff") and not broken.rstrip(b"\0").endswith(b"\xff\xd9")
    assert not (tmp_path / "samples" / "notes.jpg").read_bytes().startswith(b"\xff\xd8")
    assert (tmp_path / "samples" / "shared" / "harbour.jpg").read_bytes() == (
        tmp_path / "samples" / "harbour.jpg"
    ).read_bytes()
    assert shutil.which("ffmpeg"), "ffmpeg is required"
    assert "tram.mp4" in names
    assert (tmp_path / "samples" / "tram.mp4").read_bytes()[4:8] == b"ftyp"


def _created_in_repo() -> set[str]:
    """The repository's untracked and ignored files (bytecode aside: any import may refresh it)."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        entry
        for entry in status.split("\0")
        if entry[:3] in ("?? ", "!! ") and "/__pycache__/" not in f"/{entry[3:]}"
    }


@pytest.mark.stack
@pytest.mark.timeout(120)
def test_demo_runs_end_to_end_on_generated_samples(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    before = _created_in_repo()
    env = {**os.environ, "SHOEBOX_LOG_FORMAT": "text"}
    done = subprocess.run(
        [sys.executable, "-m", "shoebox_cli.main", "demo", "--generated", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"Report: {out / 'report.html'}"
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    status = {f["path"]: f["status"] for f in document["files"]}
    assert status["notes.jpg"] == "rejected" and status["shared/harbour.jpg"] == "duplicate"
    assert status["lisbon-sunset.jpg"] == "processed" and status["map.png"] == "processed"
    assert document["counts"]["missing"] == 0
    assert document["session"]["context"] == "Sample trip"
    assert (out / "report.html").stat().st_size > 0
    # the same defaults as process: a selection, then its picks enhanced under OUT/enhanced
    assert document["selection"]["status"] == "complete"
    picks = [f for f in document["files"] if f["selected"]]
    assert picks and document["enhancement"]["status"] in ("done", "partial"), document["enhancement"]
    for f in picks:
        assert f["enhanced"] is not None or f["enhancement_error"] is not None, f
        if f["enhanced"] and f["kind"] == "photo":
            assert (out / f["enhanced"]["path"]).read_bytes()[:3] == b"\xff\xd8\xff", f  # a JPEG
        elif f["enhanced"]:
            assert (out / f["enhanced"]["path"]).read_bytes()[4:8] == b"ftyp", f  # an MP4
    assert _created_in_repo() - before == set()  # nothing was written into the repository
