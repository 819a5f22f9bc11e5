"""``shoebox process --select``: after processing, triage then the selection, into report.json, end to end
on the embedded stack (one folder: real GPS photos and one black frame that triage discards)."""

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

PHOTOS = sorted((TESTDATA / "photos" / "gps").glob("*.jpg"))[:4]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("select") / "trip"
    d.mkdir()
    for p in PHOTOS:
        shutil.copyfile(p, d / p.name)
    # an all-black frame (a photo taken in a pocket): the offline triage discards it
    pyvips.Image.black(1200, 900, bands=3).jpegsave(str(d / "pocket.jpg"), Q=85)
    return d


def process(stack: RunningStack, folder: Path, out: Path, select: str) -> dict[str, Any]:
    code = main(
        [
            "process",
            str(folder),
            "--api",
            stack.api_url,
            "--token",
            stack.token(),
            "--out",
            str(out),
            "--timeout",
            "240",
            "--select",
            select,
            "--plain",
        ]
    )
    assert code == 0
    document: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    schema = json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(document)]
    assert not errors, errors
    processed = [f for f in document["files"] if f["status"] == "processed"]
    assert len(processed) == len(PHOTOS) + 1, document["files"]
    for f in processed:  # every processed file has its verdict
        assert f["triage"]["verdict"] in ("keep", "discard") and f["triage"]["reason"], f
    return document


def test_process_selects_the_requested_count_and_says_why_for_every_other_file(
    embedded_stack: RunningStack, folder: Path, tmp_path: Path
) -> None:
    document = process(embedded_stack, folder, tmp_path / "two", "2")
    assert document["notes"] == [], document["notes"]
    run = document["selection"]
    assert run["status"] == "complete" and run["count"] == 2 and run["job_id"].startswith("sel-")
    assert run["scenes"] and run["provider"] == "offline"
    files = {f["path"]: f for f in document["files"]}
    picks = sorted((f for f in files.values() if f["selected"]), key=lambda f: f["selected"]["rank"])
    assert [f["selected"]["rank"] for f in picks] == [1, 2]
    for f in picks:
        assert f["excluded"] is None and f["selected"]["reason"], f
        assert f["selected"]["scene"] in run["scenes"], f  # the scene's label, as the run lists them
    others = [f for f in files.values() if not f["selected"]]
    assert len(others) == len(PHOTOS) - 1
    for f in others:
        assert f["excluded"]["category"] and f["excluded"]["reason"], f
        if f["excluded"]["duplicate_of"] is not None:  # a report path, not a key
            assert f["excluded"]["duplicate_of"] in files, f
    assert files["pocket.jpg"]["triage"]["verdict"] == "discard"
    assert files["pocket.jpg"]["excluded"]["category"] == "discarded_in_triage"
    page = (tmp_path / "two" / "report.html").read_text(encoding="utf-8")
    assert 'id="selected"' in page and 'id="not-picked"' in page and "discarded in triage" in page


def test_select_zero_runs_no_selection_and_all_ranks_every_kept_file(
    embedded_stack: RunningStack, folder: Path, tmp_path: Path
) -> None:
    none = process(embedded_stack, folder, tmp_path / "none", "0")
    assert none["selection"] is None
    assert all(f["selected"] is None and f["excluded"] is None for f in none["files"])

    every = process(embedded_stack, folder, tmp_path / "all", "all")
    assert every["selection"]["status"] == "complete" and every["selection"]["count"] == "all"
    files = {f["path"]: f for f in every["files"]}
    kept = [p for p, f in files.items() if f["triage"]["verdict"] == "keep"]
    picks = sorted((f for f in files.values() if f["selected"]), key=lambda f: f["selected"]["rank"])
    assert sorted(f["path"] for f in picks) == sorted(kept)  # every kept file, nothing collapsed
    assert [f["selected"]["rank"] for f in picks] == list(range(1, len(kept) + 1))
    assert files["pocket.jpg"]["excluded"]["category"] == "discarded_in_triage"
