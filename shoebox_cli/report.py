"""The main job's report: ``report.json`` (a published contract) and ``report.html`` (a contact sheet).

The Structs below are the contract. Other tools read ``report.json``; its JSON Schema is generated from these
Structs into ``schemas/report.schema.json`` and committed (a test fails when the two drift)::

    python -m shoebox_cli.report schema           # regenerate schemas/report.schema.json
    python -m shoebox_cli.report schema --check   # exit 1 when the committed file is stale

Evolving it follows the event contracts' rule: new fields get defaults, and a new value where a reader matches
on a closed set (a file's ``status``) or a field retyped (v4's ``enhanced``) is a new ``version``. The later
steps' fields are null when their step did not run, and the HTML renders their sections only when an entry
carries them.

Versions (``docs/report.md``): 1, the first; 2 adds the file status ``pending`` (uploaded and in storage,
not decided when the job ended: before, such a file was ``missing`` with the reason ``no_result``) and
``counts.pending``; 3, the selection: ``selected`` gains ``comparison``, and every other processed file of a
job that ran a selection has ``excluded`` (``category`` is a closed set a reader matches on: the selection
results file's ``ExclusionCategory``); ``triage`` is filled for every processed file; ``selection`` (the
run: job, status, scenes in time order, error) and ``notes`` at the top; 4, enhancement: ``enhanced`` is an
object (``path`` and ``thumbnail`` of the enhanced file, relative to the report's folder, and its ``edits``)
where it was a path, an item that did not come back enhanced says why in ``enhancement_error``, and
``enhancement`` (the run: job, status, counts, error) is at the top; 5, videos enhanced: a video pick's
``enhanced.path`` is its enhanced MP4 and ``enhanced.before`` its original's 720p preview clip (null for a
photo, whose before is its thumbnail).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

REPORT_VERSION: Literal[5] = 5
JSON_FILE = "report.json"
HTML_FILE = "report.html"
SCHEMA_ID = "https://shoebox.dev/schemas/report.schema.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "report.schema.json"

#: pending (v2): uploaded and in storage, not decided when the job ended
Status = Literal["processed", "rejected", "duplicate", "pending", "missing"]
Kind = Literal["photo", "video"]


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    """Why a file was not processed: a stable code other tools match on, and a sentence for people."""

    code: Annotated[str, msgspec.Meta(description="e.g. unsupported_type, empty, duplicate, upload_failed")]
    message: str


class Camera(msgspec.Struct, frozen=True, kw_only=True):
    make: str | None = None
    model: str | None = None


class Gps(msgspec.Struct, frozen=True, kw_only=True):
    lat: float
    lon: float
    altitude_m: float | None = None


class Metadata(msgspec.Struct, frozen=True, kw_only=True):
    """What the file says about itself, as the API reports it. Any field may be null."""

    captured_at: Annotated[
        str | None, msgspec.Meta(description="ISO 8601; with an offset when the file has one")
    ]
    camera: Camera | None
    gps: Gps | None
    width: int | None
    height: int | None
    duration_s: float | None

    @classmethod
    def empty(cls) -> Metadata:
        return cls(captured_at=None, camera=None, gps=None, width=None, height=None, duration_s=None)


class Triage(msgspec.Struct, frozen=True, kw_only=True):
    verdict: Literal["keep", "discard"]
    reason: str
    #: a description of its own keeps this Meta distinct: typing caches equal ``Annotated`` forms, so an equal
    #: ``Meta(ge=0.0, le=1.0)`` imported first elsewhere would otherwise print its bounds as 0.0/1.0 here
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1, description="how sure the verdict is, 0..1")]


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """A pick (v3 adds ``comparison``): its rank (1 = best), its scene's label, why."""

    rank: Annotated[int, msgspec.Meta(ge=1)]
    scene: Annotated[str | None, msgspec.Meta(description="the scene's label, e.g. 'Scene 2 · …'")]
    reason: str
    comparison: Annotated[str | None, msgspec.Meta(description="how it beat a near rival, where it did")] = (
        None
    )


#: why a processed file is not a pick (v3): the selection results file's ``ExclusionCategory``
ExclusionCategory = Literal[
    "near_duplicate", "quality", "off_context", "redundant_scene", "discarded_in_triage", "not_evaluated"
]


class Exclusion(msgspec.Struct, frozen=True, kw_only=True):
    """Why a processed file is not among the picks (v3)."""

    category: ExclusionCategory
    reason: str
    duplicate_of: Annotated[
        str | None, msgspec.Meta(description="near_duplicate: the path of the file preferred")
    ] = None


class SelectionRun(msgspec.Struct, frozen=True, kw_only=True):
    """The selection the job asked for (v3): null when none was (``--select 0``)."""

    job_id: Annotated[
        str | None, msgspec.Meta(description="the API's selection job; null if it never started")
    ]
    status: Literal["complete", "error", "timed_out"]
    count: Annotated[int, msgspec.Meta(ge=1)] | Literal["all"]
    provider: Annotated[str | None, msgspec.Meta(description="offline, gemini")] = None
    scenes: Annotated[list[str], msgspec.Meta(description="the scenes' labels, in time order")] = []
    error: Annotated[str | None, msgspec.Meta(description="why it did not complete")] = None


class Enhanced(msgspec.Struct, frozen=True, kw_only=True):
    """A pick's enhanced photo (v4) or video (v5), downloaded next to the report."""

    path: Annotated[
        str,
        msgspec.Meta(description="the enhanced JPEG (a video's MP4), relative to the report's folder"),
    ]
    thumbnail: Annotated[
        str | None, msgspec.Meta(description="its 400 px thumbnail, relative to the report's folder")
    ]
    edits: Annotated[list[str], msgspec.Meta(description="what was changed, with the amounts, in order")]
    #: v5: a video's before: the original as the 720p preview media_process made (plays in any browser)
    before: Annotated[
        str | None,
        msgspec.Meta(
            description="v5: a video's original as its 720p preview clip (MP4), relative to the report's "
            "folder; null for a photo (its before is the file's thumbnail) or when it could not be downloaded"
        ),
    ] = None


#: how an enhancement run ended (v4): the job's own ending, or the CLI's timeout, or it never ran
EnhancementStatus = Literal["done", "partial", "failed", "cancelled", "timed_out", "error"]


class EnhancementRun(msgspec.Struct, frozen=True, kw_only=True):
    """The enhancement the job asked for (v4): null when none was (``--no-enhance``, or no picks).

    ``status``: the job's own ending (``done``: every item enhanced or skipped; ``partial``: some failed;
    ``failed``: none came back; ``cancelled``), or ``timed_out`` when the job's ``--timeout`` ran out first
    (the job was then cancelled), or ``error`` when it could not start or be read."""

    job_id: Annotated[str | None, msgspec.Meta(description="the API's enhancement job; null if none started")]
    status: EnhancementStatus
    total: Annotated[int, msgspec.Meta(ge=0)] = 0
    enhanced: Annotated[int, msgspec.Meta(ge=0)] = 0
    failed: Annotated[int, msgspec.Meta(ge=0)] = 0
    skipped: Annotated[int, msgspec.Meta(ge=0)] = 0
    cancelled: Annotated[int, msgspec.Meta(ge=0)] = 0
    error: Annotated[str | None, msgspec.Meta(description="why it did not end done")] = None


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One input file (every input file appears exactly once, in input order)."""

    path: Annotated[str, msgspec.Meta(description="as given: relative to the input folder, '/'-separated")]
    status: Status
    reason: Reason | None
    kind: Kind | None
    metadata: Metadata
    thumbnail: Annotated[str | None, msgspec.Meta(description="path relative to the report's folder")]
    triage: Triage | None
    selected: Selection | None
    #: v4: an object (was a path): the enhanced file and its thumbnail, relative to the report's folder
    enhanced: Enhanced | None
    key: Annotated[
        str | None, msgspec.Meta(description="the object key it was uploaded as; null if not uploaded")
    ]
    size: Annotated[int, msgspec.Meta(ge=0)]
    sha256: str | None
    media_type: Annotated[str | None, msgspec.Meta(description="sniffed from the content by the service")]
    #: v3: a processed file the selection did not pick, with why; null for picks and when none ran
    excluded: Exclusion | None = None
    #: v4: a pick the enhancement did not return enhanced, with why (``code``: the service's, or
    #: ``skipped``, ``cancelled``, ``not_enhanced``: the job ended first, ``download_failed``)
    enhancement_error: Reason | None = None


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    context: str
    api: str


class Counts(msgspec.Struct, frozen=True, kw_only=True):
    files: int
    processed: int
    rejected: int
    duplicate: int
    missing: int
    #: v2
    pending: int = 0


class Timings(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds. Processing is the wait after the last upload for the remaining results."""

    upload_s: float
    processing_s: float
    total_s: float


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """The result of ``shoebox process``: one session, one entry per input file."""

    version: Literal[5] = REPORT_VERSION
    generated_at: str
    session: SessionInfo
    counts: Counts
    timings: Timings
    files: list[FileEntry]
    #: v3: the selection asked for, and what the job wants a reader to know (a step that failed or ran out)
    selection: SelectionRun | None = None
    notes: list[str] = []
    #: v4: the enhancement of the picks
    enhancement: EnhancementRun | None = None


def count(files: Sequence[FileEntry]) -> Counts:
    by = {
        s: sum(1 for f in files if f.status == s)
        for s in ("processed", "rejected", "duplicate", "pending", "missing")
    }
    return Counts(
        files=len(files),
        processed=by["processed"],
        rejected=by["rejected"],
        duplicate=by["duplicate"],
        missing=by["missing"],
        pending=by["pending"],
    )


# --------------------------------------------------------------------------- JSON and its schema
def encode(report: Report) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"


def decode(data: bytes) -> Report:
    return msgspec.json.decode(data, type=Report)


def schema() -> dict[str, Any]:
    generated = msgspec.json.schema(Report)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "Shoebox report (report.json)",
        **generated,
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_files() -> dict[str, str]:
    """The committed schema as ``{path relative to the repository: content}`` (the import-order guard's
    generator, ``shared.events.schemas.stability``)."""
    return {SCHEMA_PATH.relative_to(SCHEMA_PATH.parents[1]).as_posix(): schema_text()}


def write(report: Report, out: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / JSON_FILE, out / HTML_FILE
    _atomic_write(json_path, encode(report))
    # imported here: the HTML module renders this module's Structs
    from shoebox_cli.report_html import render_html

    _atomic_write(html_path, render_html(report).encode())
    return json_path, html_path


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- python -m shoebox_cli.report
def main(argv: Sequence[str] | None = None, *, guard_import_order: bool = True) -> int:
    """``schema [--check]``; ``guard_import_order=False`` skips the two fresh interpreters the import-order
    guard starts (for a test: the guard has a test of its own)."""
    parser = argparse.ArgumentParser(prog="python -m shoebox_cli.report", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("schema", help=f"write the report's JSON Schema to {SCHEMA_PATH.name}")
    p.add_argument("--check", action="store_true", help="only check that the committed file is current")
    p.add_argument("--path", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = schema_text()
    path: Path = args.path
    # the same code must print the same schema whatever the process imported first (typing caches equal
    # Annotated forms: git log 4377609 printed another module's bounds into this file)
    from shared.events.schemas.stability import describe_import_order_differences, import_order_differences

    differing = (
        import_order_differences(generator="shoebox_cli.report:schema_files", own=("shoebox_cli",))
        if guard_import_order
        else []
    )
    if differing:
        print(describe_import_order_differences(differing), file=sys.stderr)
        return 1
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(f"{path} is stale: run python -m shoebox_cli.report schema", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
