"""``shoebox process --enhance`` end to end on the embedded stack: the selection's picks come back enhanced,
downloaded under OUT/enhanced as JPEGs that match report.json; ``--no-enhance`` writes none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import pyvips
from jsonschema import Draft202012Validator

from shoebox_cli import report
from shoebox_cli.main import main
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack

PHOTOS = [
    TESTDATA / "photos" / "gps" / "DSCN0010.jpg",
    TESTDATA / "photos" / "gps" / "DSCN0025.jpg",
    TESTDATA / "photos" / "heic" / "IMG_5195.HEIC",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("enhance") / "trip"
    d.mkdir()
    for p in PHOTOS:
        shutil.copyfile(p, d / p.name)
    return d


def process(stack: RunningStack, folder: Path, out: Path, *flags: str) -> dict[str, Any]:
    argv = ["process", str(folder), "--api", stack.api_url, "--token", stack.token(), "--out", str(out)]
    code = main([*argv, "--timeout", "300", "--select", "all", "--plain", *flags])
    assert code == 0
    document: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    schema = json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(document)]
    assert not errors, errors
    assert document["version"] == 5
    assert document["selection"]["status"] == "complete", document["selection"]
    return document


def test_process_enhances_the_picks_into_jpegs_that_match_the_report(
    embedded_stack: RunningStack, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    document = process(embedded_stack, folder, out)
    run = document["enhancement"]
    picks = [f for f in document["files"] if f["selected"]]
    assert picks, document["files"]
    assert run["status"] == "done" and run["job_id"].startswith("enh-"), run
    assert run["total"] == run["enhanced"] == len(picks), run
    assert document["notes"] == [], document["notes"]
    written = sorted(p.relative_to(out).as_posix() for p in (out / "enhanced").rglob("*") if p.is_file())
    said: list[str] = []
    for f in picks:
        enhanced = f["enhanced"]
        assert enhanced is not None and f["enhancement_error"] is None, f
        assert isinstance(enhanced["edits"], list)
        said += [enhanced["path"], enhanced["thumbnail"]]
        full = pyvips.Image.new_from_file(str(out / enhanced["path"]))
        thumb = pyvips.Image.new_from_file(str(out / enhanced["thumbnail"]))
        assert full.get("vips-loader").startswith("jpeg") and thumb.get("vips-loader").startswith("jpeg")
        assert max(thumb.width, thumb.height) == 400 < max(full.width, full.height)
        # the HEIC comes back a JPEG, under its own name
        assert enhanced["path"] == f"enhanced/{Path(f['path']).name}" + (
            "" if f["path"].endswith(".jpg") else ".jpg"
        )
    assert sorted(said) == written  # every file written is in the report, and every path is written
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('class="pair"') == len(picks)
    for f in picks:
        assert f'href="{f["enhanced"]["path"]}"' in page


def test_no_enhance_writes_no_enhanced_file(
    embedded_stack: RunningStack, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "none"
    document = process(embedded_stack, folder, out, "--no-enhance")
    assert document["enhancement"] is None
    assert all(f["enhanced"] is None and f["enhancement_error"] is None for f in document["files"])
    assert not (out / "enhanced").exists()
    assert 'id="enhanced"' not in (out / "report.html").read_text(encoding="utf-8")
