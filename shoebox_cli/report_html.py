"""``report.html``: the main job's report as a contact sheet, rendered from the Structs of
``shoebox_cli.report`` (the contract) into the page template ``report.html`` beside this module.

Every input file appears once: the counts as chips, then the picks by scene (or kept / proposed for
discarding without a selection), the enhanced picks' before/after pairs (a photo's thumbnails; a video's
original preview clip beside its enhanced clip, both ``<video controls>``), then the files Shoebox could not
use with why. Every string from the report is escaped; every path is a relative URL (the page is opened
from disk, offline).
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from string import Template

from shoebox_cli.report import HTML_FILE, FileEntry, Report


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
    """The original's thumbnail beside the enhanced one (a link to the enhanced file), then the edits; a
    video's pair is two clips (``_video_pair``)."""
    assert f.enhanced is not None
    e = f.enhanced
    if f.kind == "video":
        return _video_pair(f)
    shown = e.thumbnail or e.path
    return (
        f'<div class="pair"><div class="name" title="{_e(f.path)}">{_e(f.path)}</div>'
        f'<figure class="before">{_before(f)}<figcaption>before</figcaption></figure>'
        f'<figure class="after"><a href="{_src(e.path)}"><img class="shot" src="{_src(shown)}" '
        f'alt="after: {_e(f.path)}" loading="lazy"></a><figcaption>after · '
        f'<a class="full" href="{_src(e.path)}">full size</a></figcaption></figure>'
        f"{_edits(e.edits)}</div>"
    )


def _clip(path: str, poster: str | None, label: str) -> str:
    """A ``<video>`` that plays ``path`` (only its metadata is read until it is played)."""
    shown = f' poster="{_src(poster)}"' if poster else ""
    return (
        f'<video class="shot" src="{_src(path)}"{shown} controls preload="metadata" playsinline '
        f'aria-label="{_e(label)}"></video>'
    )


def _video_pair(f: FileEntry) -> str:
    """A video's original (its 720p preview clip, else its thumbnail) beside the enhanced clip, both
    playable, a link to the enhanced MP4, then the edits (the filters applied)."""
    assert f.enhanced is not None
    e = f.enhanced
    before = _clip(e.before, f.thumbnail, f"before: {f.path}") if e.before else _before(f)
    return (
        f'<div class="pair video"><div class="name" title="{_e(f.path)}">{_e(f.path)}</div>'
        f'<figure class="before">{before}<figcaption>before</figcaption></figure>'
        f'<figure class="after">{_clip(e.path, e.thumbnail, f"after: {f.path}")}<figcaption>after · '
        f'<a class="full" href="{_src(e.path)}">the clip</a></figcaption></figure>'
        f"{_edits(e.edits)}</div>"
    )


def _edits(edits: Sequence[str]) -> str:
    shown = "".join(f"<li>{_e(x)}</li>" for x in edits) or "<li>nothing needed changing</li>"
    return f'<ul class="edits">{shown}</ul>'


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
    note = (
        "Each pick's original beside its enhanced version (open it for the full size; a video's two clips"
        " play), with the edits."
    )
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
