"""The CLI's after-processing steps, without a stack: the selection's answer into the report's entries."""

from __future__ import annotations

from typing import Any

import msgspec

from shared.events.selection_results import SceneGroup
from shoebox_cli import steps
from shoebox_cli.client import SelectionExclusion, SelectionJob, SelectionPick, SelectionState
from shoebox_cli.report import FileEntry, Metadata, Triage


def entry(name: str, status: str = "processed") -> FileEntry:
    fields: dict[str, Any] = {
        "path": f"trip/{name}",
        "status": status,
        "reason": None,
        "kind": "photo",
        "metadata": Metadata.empty(),
        "thumbnail": None,
        "triage": None,
        "selected": None,
        "enhanced": None,
        "key": f"uploads/s/{name}",
        "size": 1,
        "sha256": None,
        "media_type": "image/jpeg",
    }
    return msgspec.convert(fields, FileEntry)


def complete() -> SelectionState:
    return SelectionState(
        job_id="sel-1",
        status="complete",
        count=1,
        provider="offline",
        selected=[SelectionPick(key="uploads/s/a.jpg", name="a.jpg", rank=1, scene="s1", reason="sharp")],
        excluded=[
            SelectionExclusion(
                key="uploads/s/b.jpg",
                name="b.jpg",
                category="near_duplicate",
                reason="a near copy of a.jpg",
                duplicate_of="uploads/s/a.jpg",
            )
        ],
        scene_groups=[SceneGroup(id="s1", label="Scene 1 · harbour", items=["uploads/s/a.jpg"])],
    )


def test_picks_carry_the_scene_label_and_duplicates_name_the_preferred_path() -> None:
    entries = [entry("a.jpg"), entry("b.jpg"), entry("c.txt", "rejected")]
    keep = Triage(verdict="keep", reason="fine", confidence=0.9)
    out = steps.apply_outcomes(
        entries,
        triage={"uploads/s/a.jpg": keep, "uploads/s/b.jpg": keep},
        selection=complete(),
        key_to_path={e.key or "": e.path for e in entries},
    )
    a, b, c = out
    assert a.selected is not None and a.selected.rank == 1 and a.selected.scene == "Scene 1 · harbour"
    assert a.excluded is None and a.triage == keep
    assert b.selected is None and b.excluded is not None
    assert b.excluded.category == "near_duplicate" and b.excluded.duplicate_of == "trip/a.jpg"
    assert c == entries[2]


def test_a_failed_selection_leaves_no_picks_and_says_why() -> None:
    failed = SelectionState(job_id="sel-1", status="error", code="timed_out", error="the triage never ended")
    entries = [entry("a.jpg")]
    out = steps.apply_outcomes(entries, triage={}, selection=failed, key_to_path={})
    assert out[0].selected is None and out[0].excluded is None
    run = steps.selection_run(SelectionJob(job_id="sel-1"), 2, failed, timed_out=False)
    assert run.status == "error" and run.error == "the triage never ended (timed_out)"
    ran = steps.selection_run(SelectionJob(job_id="sel-1"), None, complete(), timed_out=False)
    assert ran.status == "complete" and ran.count == "all" and ran.scenes == ["Scene 1 · harbour"]
    late = steps.selection_run(SelectionJob(job_id="sel-1"), 2, None, timed_out=True)
    assert late.status == "timed_out" and late.job_id == "sel-1"


def test_select_takes_a_count_all_or_zero() -> None:
    assert steps.parse_select("all") is None
    assert steps.parse_select("0") == 0
    assert steps.parse_select("3") == 3
