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
``enhancement`` (the run: job, status, counts, error) is at the top.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import sys
import urllib.parse
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated, Any, Literal

import msgspec

REPORT_VERSION: Literal[4] = 4
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
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]


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
    """A pick's enhanced photo (v4), downloaded next to the report."""

    path: Annotated[str, msgspec.Meta(description="the enhanced JPEG, relative to the report's folder")]
    thumbnail: Annotated[
        str | None, msgspec.Meta(description="its 400 px thumbnail, relative to the report's folder")
    ]
    edits: Annotated[list[str], msgspec.Meta(description="what was changed, with the amounts, in order")]


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

    version: Literal[4] = REPORT_VERSION
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


def write(report: Report, out: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / JSON_FILE, out / HTML_FILE
    _atomic_write(json_path, encode(report))
    _atomic_write(html_path, render_html(report).encode())
    return json_path, html_path


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# --------------------------------------------------------------------------- HTML
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _src(path: str) -> str:
    return _e(urllib.parse.quote(path))


def _capture_order(f: FileEntry) -> tuple[int, str, str]:
    when = f.metadata.captured_at
    return (0, when, f.path) if when else (1, "", f.path)


def _facts(f: FileEntry) -> list[str]:
    m = f.metadata
    out: list[str] = []
    if m.captured_at:
        out.append(m.captured_at.replace("T", " ")[:16])
    if m.camera and (m.camera.make or m.camera.model):
        make, model = m.camera.make or "", m.camera.model or ""
        out.append(model if make and model.lower().startswith(make.lower()) else f"{make} {model}".strip())
    if m.width and m.height:
        out.append(f"{m.width}×{m.height}")
    if m.duration_s is not None:
        out.append(f"{m.duration_s:.1f} s")
    if m.gps:
        out.append(f"{m.gps.lat:.4f}, {m.gps.lon:.4f}")
    return out


def _picture(f: FileEntry) -> str:
    if f.thumbnail:
        return f'<img class="thumb" src="{_src(f.thumbnail)}" alt="{_e(f.path)}" loading="lazy">'
    kind = f.kind or "file"
    glyph = "▶" if kind == "video" else "◼"
    return (
        f'<div class="thumb placeholder {_e(kind)}"><span class="glyph">{glyph}</span>'
        f'<span class="pname">{_e(Path(f.path).name)}</span><span class="pkind">{_e(kind)}</span></div>'
    )


def _card(f: FileEntry, extra: str = "", badge: str = "") -> str:
    facts = "".join(f"<li>{_e(x)}</li>" for x in _facts(f))
    folder = f.path.rpartition("/")[0]
    where = f'<div class="folder">{_e(folder)}/</div>' if folder else ""
    return (
        f'<figure class="card">{badge}{_picture(f)}<figcaption><div class="name" title="{_e(f.path)}">'
        f'{_e(Path(f.path).name)}</div>{where}<ul class="facts">{facts}</ul>{extra}</figcaption></figure>'
    )


def _grid(cards: Iterable[str]) -> str:
    return f'<div class="grid">{"".join(cards)}</div>'


def _section(ident: str, title: str, n: int, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{_e(note)}</p>' if note else ""
    return (
        f'<section id="{_e(ident)}"><h2>{_e(title)} <span class="n">{n}</span></h2>{note_html}{body}'
        "</section>"
    )


def _reason_table(files: Sequence[FileEntry]) -> str:
    rows = "".join(
        f'<tr><td class="path">{_e(f.path)}</td><td><code>{_e(f.reason.code if f.reason else "")}</code></td>'
        f"<td>{_e(f.reason.message if f.reason else '')}</td></tr>"
        for f in files
    )
    return (
        f'<table class="reasons"><thead><tr><th>file</th><th>code</th><th>why</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _verdict(f: FileEntry) -> str:
    if f.triage is None:
        return ""
    return (
        f'<p class="verdict {_e(f.triage.verdict)}">{_e(f.triage.reason)} '
        f'<span class="conf">{f.triage.confidence:.0%}</span></p>'
    )


def _order_note(files: Sequence[FileEntry]) -> str:
    if any(f.metadata.captured_at for f in files):
        return "In capture-time order (files without a capture time last)."
    return "In folder order (no capture times known)."


def _pick_card(f: FileEntry) -> str:
    assert f.selected is not None
    s = f.selected
    compare = f'<p class="why compare">{_e(s.comparison)}</p>' if s.comparison else ""
    return _card(
        f,
        f'<p class="why">{_e(s.reason)}</p>{compare}{_verdict(f)}',
        badge=f'<span class="rank">{s.rank}</span>',
    )


def _excluded_card(f: FileEntry) -> str:
    assert f.excluded is not None
    x = f.excluded
    like = f'<p class="why">a near copy of {_e(x.duplicate_of)}</p>' if x.duplicate_of else ""
    category = f'<span class="category">{_e(x.category.replace("_", " "))}</span>'
    return _card(f, f'{category}<p class="why">{_e(x.reason)}</p>{like}{_verdict(f)}')


def _selection(processed: Sequence[FileEntry]) -> list[str]:
    """The picks grouped by scene (a heading per scene label; the scene of the best pick first, picks in
    rank order inside), then every other processed file under "Not picked" with its category and reason."""
    picks = sorted((f for f in processed if f.selected), key=lambda f: f.selected.rank if f.selected else 0)
    groups: dict[str | None, list[FileEntry]] = {}
    for f in picks:
        groups.setdefault(f.selected.scene if f.selected else None, []).append(f)
    body = "".join(
        (f'<h3 class="scene-label">{_e(scene)}</h3>' if scene else "") + _grid(_pick_card(f) for f in group)
        for scene, group in groups.items()
    )
    n_scenes = len([s for s in groups if s])
    said = f"In rank order, grouped into {n_scenes} scene{'' if n_scenes == 1 else 's'}." if n_scenes else ""
    parts = [_section("selected", "Selected for the post", len(picks), body, said or "In rank order.")]
    rest = [f for f in processed if not f.selected]
    if rest:
        parts.append(
            _section(
                "not-picked",
                "Not picked",
                len(rest),
                _grid(_excluded_card(f) if f.excluded else _card(f, _verdict(f)) for f in rest),
                "Every other processed file, with why it is not among the picks.",
            )
        )
    return parts


def _by_rank(f: FileEntry) -> tuple[int, str]:
    return (f.selected.rank if f.selected else 1 << 30, f.path)


def _before(f: FileEntry) -> str:
    if f.thumbnail:
        return f'<img class="shot" src="{_src(f.thumbnail)}" alt="before: {_e(f.path)}" loading="lazy">'
    return _picture(f)


def _pair(f: FileEntry) -> str:
    """The original's thumbnail beside the enhanced one (a link to the enhanced file), then the edits."""
    assert f.enhanced is not None
    e = f.enhanced
    shown = e.thumbnail or e.path
    edits = "".join(f"<li>{_e(x)}</li>" for x in e.edits) or "<li>nothing needed changing</li>"
    return (
        f'<div class="pair"><div class="name" title="{_e(f.path)}">{_e(f.path)}</div>'
        f'<figure class="before">{_before(f)}<figcaption>before</figcaption></figure>'
        f'<figure class="after"><a href="{_src(e.path)}"><img class="shot" src="{_src(shown)}" '
        f'alt="after: {_e(f.path)}" loading="lazy"></a><figcaption>after · '
        f'<a class="full" href="{_src(e.path)}">full size</a></figcaption></figure>'
        f'<ul class="edits">{edits}</ul></div>'
    )


def _enhancement(report: Report) -> list[str]:
    """Before and after for each enhanced pick (in rank order), then the picks that did not come back
    enhanced, with why; nothing when no enhancement ran."""
    files = report.files
    enhanced = sorted((f for f in files if f.enhanced), key=_by_rank)
    failed = sorted((f for f in files if f.enhancement_error), key=_by_rank)
    if not enhanced and not failed and report.enhancement is None:
        return []
    run = report.enhancement
    said = ""
    if run is not None:
        said = (
            f"The enhancement ended {run.status.replace('_', ' ')}: {run.enhanced} of {run.total} enhanced."
        )
        said += f" {run.error}" if run.error else ""
    body = f'<div class="pairs">{"".join(_pair(f) for f in enhanced)}</div>'
    if failed:
        rows = "".join(
            f'<li><span class="epath">{_e(f.path)}</span> <code>{_e(f.enhancement_error.code)}</code> '
            f"{_e(f.enhancement_error.message)}</li>"
            for f in failed
            if f.enhancement_error
        )
        body += f'<h3 class="scene-label">Not enhanced</h3><ul class="not-enhanced">{rows}</ul>'
    note = "Each pick's original beside its enhanced version (open it for the full size), with the edits."
    return [_section("enhanced", "Before and after", len(enhanced), body, f"{note} {said}".strip())]


def _sections(report: Report) -> str:
    files = report.files
    processed = sorted((f for f in files if f.status == "processed"), key=_capture_order)
    parts: list[str] = []
    if report.notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    if any(f.selected or f.excluded for f in processed):
        # each processed file once: the selection's sections replace the triage's
        parts.extend(_selection(processed))
    elif any(f.triage for f in processed):
        kept = [f for f in processed if f.triage is None or f.triage.verdict == "keep"]
        discarded = [f for f in processed if f.triage is not None and f.triage.verdict == "discard"]
        parts.append(
            _section(
                "kept",
                "Kept",
                len(kept),
                _grid(_card(f, _verdict(f)) for f in kept),
                _order_note(processed),
            )
        )
        if discarded:
            parts.append(
                _section(
                    "discarded",
                    "Proposed for discarding",
                    len(discarded),
                    _grid(_card(f, _verdict(f)) for f in discarded),
                )
            )
    elif processed:
        parts.append(
            _section(
                "processed",
                "Processed",
                len(processed),
                _grid(_card(f) for f in processed),
                _order_note(processed),
            )
        )
    parts.extend(_enhancement(report))
    for status, title, note in (
        ("rejected", "Rejected", "Files Shoebox could not use, with the reason."),
        ("duplicate", "Duplicates", "Exact copies of another file: uploaded once."),
        (
            "pending",
            "Pending",
            "Uploaded, but not decided before the job ended; run the command again to wait.",
        ),
        ("missing", "Missing", "No result arrived before the job ended; run the command again to resume."),
    ):
        group = [f for f in files if f.status == status]
        if group:
            parts.append(_section(status, title, len(group), _reason_table(group), note))
    if not files:
        parts.append('<p class="note">The folder had no files.</p>')
    return "".join(parts)


def _counts(report: Report) -> str:
    c = report.counts
    chips = [
        ("files", c.files),
        ("processed", c.processed),
        ("rejected", c.rejected),
        ("duplicate", c.duplicate),
        ("pending", c.pending),
        ("missing", c.missing),
    ]
    return "".join(
        f'<a class="chip {name}" href="#{name}"><b>{n}</b> {name}</a>'
        for name, n in chips
        if n or name in ("files", "processed")
    )


def render_html(report: Report) -> str:
    template = Template(resources.files(__package__).joinpath(HTML_FILE).read_text(encoding="utf-8"))
    t = report.timings
    context = report.session.context or "Untitled trip"
    return template.substitute(
        title=_e(f"{context} · Shoebox"),
        context=_e(context),
        session=_e(report.session.id),
        api=_e(report.session.api),
        generated=_e(report.generated_at),
        timings=_e(
            f"upload {t.upload_s:.1f} s · processing {t.processing_s:.1f} s · total {t.total_s:.1f} s"
        ),
        counts=_counts(report),
        sections=_sections(report),
    )


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- python -m shoebox_cli.report
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shoebox_cli.report", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("schema", help=f"write the report's JSON Schema to {SCHEMA_PATH.name}")
    p.add_argument("--check", action="store_true", help="only check that the committed file is current")
    p.add_argument("--path", type=Path, default=SCHEMA_PATH)
    args = parser.parse_args(argv)
    text = schema_text()
    path: Path = args.path
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
