"""The report writer: report.json follows its published schema, the schema is current, the HTML is safe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from shoebox_cli import report
from shoebox_cli.report import (
    Camera,
    Enhanced,
    EnhancementRun,
    Exclusion,
    FileEntry,
    Gps,
    Metadata,
    Reason,
    Report,
    Selection,
    SelectionRun,
    SessionInfo,
    Timings,
    Triage,
)


def entry(path: str, status: report.Status = "processed", **overrides: Any) -> FileEntry:
    fields: dict[str, Any] = {
        "path": path,
        "status": status,
        "reason": None,
        "kind": "photo" if status == "processed" else None,
        "metadata": Metadata.empty(),
        "thumbnail": None,
        "triage": None,
        "selected": None,
        "enhanced": None,
        "key": f"uploads/s/{Path(path).name}",
        "size": 1234,
        "sha256": "ab" * 32,
        "media_type": "image/jpeg",
    }
    fields.update(overrides)
    return FileEntry(**fields)


def make_report(files: list[FileEntry], context: str = "Weekend in Kyoto") -> Report:
    return Report(
        generated_at="2026-01-01T00:00:00+00:00",
        session=SessionInfo(
            id="9b8d6d47-da7c-462d-9b07-8ddf3fdcf4de", context=context, api="http://127.0.0.1:8000"
        ),
        counts=report.count(files),
        timings=Timings(upload_s=1.5, processing_s=2.25, total_s=4.0),
        files=files,
    )


FULL = [
    entry(
        "day1/temple.jpg",
        metadata=Metadata(
            captured_at="2024-05-04T10:30:00+09:00",
            camera=Camera(make="FUJIFILM", model="X100V"),
            gps=Gps(lat=35.0116, lon=135.7681),
            width=6000,
            height=4000,
            duration_s=None,
        ),
        thumbnail="thumbnails/temple.jpg",
    ),
    entry(
        "day1/clip.mp4",
        kind="video",
        media_type="video/mp4",
        metadata=Metadata(
            captured_at="2024-05-04T09:00:00", camera=None, gps=None, width=1920, height=1080, duration_s=12.5
        ),
    ),
    entry("notes.jpg", "rejected", reason=Reason(code="unsupported_type", message="not a photo")),
    entry(
        "copy/temple.jpg",
        "duplicate",
        key=None,
        reason=Reason(code="duplicate", message="same bytes as day1/temple.jpg"),
    ),
    entry("late.jpg", "missing", reason=Reason(code="no_result", message="no result before the job ended")),
    entry(
        "slow.mov", "pending", reason=Reason(code="not_decided", message="not decided before the job ended")
    ),
]


def schema_validator() -> Draft202012Validator:
    schema = json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_report_json_validates_against_the_published_schema(tmp_path: Path) -> None:
    json_path, html_path = report.write(make_report(FULL), tmp_path)
    document = json.loads(json_path.read_text(encoding="utf-8"))
    errors = sorted(schema_validator().iter_errors(document), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    assert html_path.exists()
    assert set(document) >= {"session", "counts", "timings", "files"}
    assert document["version"] == 5
    assert document["counts"] == {
        "files": 6,
        "processed": 2,
        "rejected": 1,
        "duplicate": 1,
        "missing": 1,
        "pending": 1,
    }
    assert [f["path"] for f in document["files"]] == [f.path for f in FULL]
    assert report.decode(json_path.read_bytes()) == make_report(FULL)


def test_version_2_adds_the_pending_status_that_version_1_refuses(tmp_path: Path) -> None:
    """A reader that matches on v1's closed set of statuses would not know ``pending``: it is v2's, and
    the published schema holds a pending file only in a v2 document."""
    json_path, _ = report.write(make_report([entry("slow.mov", "pending")]), tmp_path)
    document = json.loads(json_path.read_bytes())
    assert not list(schema_validator().iter_errors(document))
    schema = json.loads(report.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert "pending" in schema["$defs"]["FileEntry"]["properties"]["status"]["enum"]
    assert list(schema_validator().iter_errors({**document, "version": 1}))


def test_the_later_steps_fields_validate_when_they_are_filled(tmp_path: Path) -> None:
    files = [
        entry(
            "a.jpg",
            triage=Triage(verdict="keep", reason="sharp, good light", confidence=0.9),
            selected=Selection(rank=1, scene="temple", reason="the best of the temple"),
            enhanced=Enhanced(
                path="enhanced/a.jpg", thumbnail="enhanced/thumbnails/a.jpg", edits=["exposure +0.3 EV"]
            ),
        )
    ]
    json_path, _ = report.write(make_report(files), tmp_path)
    assert not list(schema_validator().iter_errors(json.loads(json_path.read_bytes())))


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "lost"},
        {"kind": "audio"},
        {"triage": {"verdict": "maybe", "reason": "", "confidence": 0.5}},
        {"reason": {"code": "x"}},
    ],
)
def test_the_schema_rejects_what_the_contract_does_not_allow(tmp_path: Path, bad: dict[str, Any]) -> None:
    json_path, _ = report.write(make_report(FULL[:1]), tmp_path)
    document = json.loads(json_path.read_bytes())
    document["files"][0].update(bad)
    assert list(schema_validator().iter_errors(document))


def test_the_committed_schema_matches_the_code() -> None:
    committed = report.SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == report.schema_text(), "run `python -m shoebox_cli.report schema` and commit the file"
    # the import-order guard the command also runs has its own test below
    assert report.main(["schema", "--check"], guard_import_order=False) == 0


def test_html_escapes_every_name_and_text(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>&.jpg'
    files = [
        entry(evil),
        entry(
            "<b>bad</b>.jpg",
            "rejected",
            reason=Reason(code="unsupported_type", message="<img src=x onerror=1>"),
        ),
        entry("ok.jpg", thumbnail='thumbnails/"><script>.jpg'),
    ]
    _, html_path = report.write(make_report(files, context="Kyoto <i>&</i> Nara"), tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert (
        "<script>" not in page and "<b>bad</b>" not in page and "<img src=x" not in page and "<i>" not in page
    )
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;.jpg" in page
    assert "Kyoto &lt;i&gt;&amp;&lt;/i&gt; Nara" in page
    assert 'src="thumbnails/%22%3E%3Cscript%3E.jpg"' in page


def test_html_is_self_contained_and_shows_each_group(tmp_path: Path) -> None:
    _, html_path = report.write(make_report(FULL), tmp_path)
    page = html_path.read_text(encoding="utf-8")
    assert "http://" not in page.replace("http://127.0.0.1:8000", "")  # nothing fetched from a network
    assert "https://" not in page and "<link" not in page and "<script" not in page
    for section in ('id="processed"', 'id="rejected"', 'id="duplicate"', 'id="missing"'):
        assert section in page
    # thumbnails when there are, a placeholder with the name and kind otherwise
    assert 'src="thumbnails/temple.jpg"' in page
    assert 'class="thumb placeholder video"' in page and "clip.mp4" in page
    # the later steps' sections appear only with their data
    for later in ('id="kept"', 'id="selected"', 'id="enhanced"'):
        assert later not in page
    # processed files in capture-time order
    assert page.index("day1/clip.mp4") < page.index("day1/temple.jpg")


def test_html_shows_triage_and_before_after_when_they_exist(tmp_path: Path) -> None:
    files = [
        entry(
            "a.jpg",
            triage=Triage(verdict="keep", reason="sharp", confidence=0.9),
            enhanced=Enhanced(path="enhanced/a.jpg", thumbnail=None, edits=[]),
        ),
        entry("b.jpg", triage=Triage(verdict="discard", reason="blurry", confidence=0.8)),
    ]
    _, html_path = report.write(make_report(files), tmp_path)
    page = html_path.read_text(encoding="utf-8")
    for section in ('id="kept"', 'id="discarded"', 'id="enhanced"'):
        assert section in page
    assert 'id="processed"' not in page and 'id="selected"' not in page
    # without its thumbnail, the pair shows the enhanced file itself
    assert "blurry" in page and 'src="enhanced/a.jpg"' in page


def test_html_shows_the_picks_by_scene_in_rank_order_then_what_was_not_picked(tmp_path: Path) -> None:
    keep = Triage(verdict="keep", reason="sharp", confidence=0.9)
    files = [
        entry("a.jpg", triage=keep, selected=Selection(rank=3, scene="Scene 2 · harbour", reason="colour")),
        entry(
            "b.jpg",
            triage=keep,
            excluded=Exclusion(category="near_duplicate", reason="a weaker copy", duplicate_of="c.jpg"),
        ),
        entry(
            "c.jpg",
            triage=keep,
            selected=Selection(
                rank=1, scene="Scene 1 · temple", reason="the opener", comparison="sharper than b.jpg"
            ),
        ),
        entry("d.jpg", triage=keep, selected=Selection(rank=2, scene="Scene 2 · harbour", reason="boats")),
        entry(
            "e.jpg",
            triage=Triage(verdict="discard", reason="all black", confidence=0.95),
            excluded=Exclusion(category="discarded_in_triage", reason="triage discarded it"),
        ),
        entry("gone.jpg", "rejected", reason=Reason(code="unsupported_type", message="not a photo")),
    ]
    doc = msgspec.structs.replace(make_report(files), notes=["The selection took its time."])
    _, html_path = report.write(doc, tmp_path)
    page = html_path.read_text(encoding="utf-8")
    # each processed file once: the selection's sections replace the triage's
    assert 'id="kept"' not in page and 'id="discarded"' not in page
    assert "The selection took its time." in page
    picks = page[page.index('id="selected"') : page.index('id="not-picked"')]
    rest = page[page.index('id="not-picked"') : page.index('id="rejected"')]
    # scene headings, the best pick's scene first; picks in rank order inside a scene
    assert picks.index("Scene 1 · temple") < picks.index("c.jpg") < picks.index("Scene 2 · harbour")
    assert picks.index("Scene 2 · harbour") < picks.index("d.jpg") < picks.index("a.jpg")
    assert "sharper than b.jpg" in picks and "b.jpg</div>" not in picks
    for name, said in (("b.jpg", "near duplicate"), ("e.jpg", "discarded in triage")):
        assert name in rest and said in rest
    assert "a near copy of c.jpg" in rest and "all black" in rest


def test_a_selection_run_and_notes_validate(tmp_path: Path) -> None:
    files = [
        entry(
            "a.jpg",
            triage=Triage(verdict="keep", reason="sharp", confidence=0.9),
            selected=Selection(rank=1, scene="Scene 1", reason="best", comparison="sharper than b.jpg"),
        ),
        entry(
            "b.jpg",
            triage=Triage(verdict="keep", reason="sharp", confidence=0.9),
            excluded=Exclusion(category="near_duplicate", reason="copy", duplicate_of="a.jpg"),
        ),
    ]
    run = SelectionRun(job_id="sel-1", status="complete", count=1, provider="offline", scenes=["Scene 1"])
    doc = msgspec.structs.replace(make_report(files), selection=run, notes=["a note"])
    json_path, _ = report.write(doc, tmp_path)
    document = json.loads(json_path.read_bytes())
    assert not list(schema_validator().iter_errors(document))
    assert report.decode(json_path.read_bytes()) == doc
    for bad in ({"category": "meh"}, {"duplicate_of": 3}):
        broken = json.loads(json_path.read_bytes())
        broken["files"][1]["excluded"].update(bad)
        assert list(schema_validator().iter_errors(broken))


ENHANCED = [
    entry(
        "trip/b.jpg",
        thumbnail="thumbnails/b.jpg",
        selected=Selection(rank=2, scene="Scene 1", reason="boats"),
        enhanced=Enhanced(
            path="enhanced/b.jpg",
            thumbnail="enhanced/thumbnails/b.jpg",
            edits=["white balance: 6% warmer", "exposure +0.4 EV"],
        ),
    ),
    entry(
        "trip/a.heic",
        thumbnail="thumbnails/a.heic.jpg",
        selected=Selection(rank=1, scene="Scene 1", reason="the opener"),
        enhanced=Enhanced(path="enhanced/a.heic.jpg", thumbnail="enhanced/thumbnails/a.heic.jpg", edits=[]),
    ),
    entry(
        "trip/c.jpg",
        selected=Selection(rank=3, scene="Scene 1", reason="light"),
        enhancement_error=Reason(code="original_missing", message="the original is gone <b>"),
    ),
]
RUN = EnhancementRun(
    job_id="enh-1", status="partial", total=3, enhanced=2, failed=1, error="1 of 3 picks did not come back"
)
RUN_JSON = msgspec.to_builtins(RUN)


def test_version_4_enhanced_is_an_object_with_paths_and_edits_and_an_error_where_there_is_one(
    tmp_path: Path,
) -> None:
    doc = msgspec.structs.replace(make_report(ENHANCED), enhancement=RUN)
    json_path, _ = report.write(doc, tmp_path)
    document = json.loads(json_path.read_bytes())
    errors = sorted(schema_validator().iter_errors(document), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    assert document["version"] == 5
    b, _, c = document["files"]
    assert b["enhanced"] == {
        "path": "enhanced/b.jpg",
        "thumbnail": "enhanced/thumbnails/b.jpg",
        "edits": ["white balance: 6% warmer", "exposure +0.4 EV"],
        "before": None,  # v5: a video's original clip; a photo's before is its thumbnail
    }
    assert b["enhancement_error"] is None
    assert c["enhanced"] is None and c["enhancement_error"]["code"] == "original_missing"
    assert document["enhancement"]["status"] == "partial" and document["enhancement"]["enhanced"] == 2
    assert report.decode(json_path.read_bytes()) == doc
    # v3's enhanced was a path: a v4 reader refuses it, and a v3 document is not a v4 one
    for bad in ({"enhanced": "enhanced/b.jpg"}, {"enhanced": {"path": "x.jpg"}}):
        broken = json.loads(json_path.read_bytes())
        broken["files"][0].update(bad)
        assert list(schema_validator().iter_errors(broken)), bad
    assert list(schema_validator().iter_errors({**document, "version": 3}))
    assert list(schema_validator().iter_errors({**document, "enhancement": {**RUN_JSON, "status": "meh"}}))


def test_html_shows_before_after_pairs_in_rank_order_with_the_edits_and_what_was_not_enhanced(
    tmp_path: Path,
) -> None:
    doc = msgspec.structs.replace(make_report(ENHANCED), enhancement=RUN)
    _, html_path = report.write(doc, tmp_path)
    page = html_path.read_text(encoding="utf-8")
    section = page[page.index('id="enhanced"') :]
    pairs = section[: section.index("Not enhanced")]
    # the original's thumbnail beside the enhanced one, which links to the enhanced file
    assert pairs.index("trip/a.heic") < pairs.index("trip/b.jpg")  # rank order
    assert 'src="thumbnails/b.jpg"' in pairs and 'src="enhanced/thumbnails/b.jpg"' in pairs
    assert 'href="enhanced/b.jpg"' in pairs and 'href="enhanced/a.heic.jpg"' in pairs
    assert "<li>white balance: 6% warmer</li><li>exposure +0.4 EV</li>" in pairs
    assert "nothing needed changing" in pairs  # a clean photo's empty edits
    assert pairs.count('class="pair"') == 2 and "trip/c.jpg" not in pairs
    rest = section[section.index("Not enhanced") :]
    assert "trip/c.jpg" in rest and "original_missing" in rest and "the original is gone &lt;b&gt;" in rest
    assert "ended partial: 2 of 3 enhanced" in section
    # each input file is still one card; the pairs come beside the cards
    assert page.count('<figure class="card">') == 3


def test_the_report_schema_does_not_depend_on_import_order() -> None:
    """Generated in a fresh process and after every module of the project evaluated its annotations first,
    the schema is the same (typing caches equal ``Annotated`` forms: git log 4377609 printed the video
    model's ``Meta(ge=0.0, le=1.0)`` as the triage confidence's bounds). ``report schema`` checks it too."""
    from shared.events.schemas.stability import import_order_differences

    assert import_order_differences(generator="shoebox_cli.report:schema_files", own=("shoebox_cli",)) == []
