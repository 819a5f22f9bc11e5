"""The main job's enhancement step: the selection's picks come back enhanced, downloaded next to the report.

``run_enhancement`` asks the API to enhance a complete selection's picks (``POST …/enhancements`` with
``selection_job_id``), follows the job (``GET …/enhancements/{job}`` with ``If-None-Match``; its bar counts
the items ended and names the phases running) until the job's saga records its ending, then downloads each
enhanced file and its thumbnail under ``OUT/enhanced/`` (a video's MP4, and its original's 720p
preview clip under ``enhanced/before/`` for the report's before/after). The wait is bounded by the
caller's budget (what is left of ``--timeout``, and never more than the saga's own deadline plus a
margin): when it runs out, the job is cancelled (its items not started end ``cancelled``; the ones
running finish on the server) and what had come back is still downloaded and reported.
``apply_enhancement`` writes the outcome into the report's entries: ``enhanced`` on each pick that came
back, ``enhancement_error`` (why) on each that did not.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import msgspec

from shoebox_cli.client import ApiClient, ApiError, EnhancementItem, EnhancementJob, EnhancementState
from shoebox_cli.report import Enhanced, EnhancementRun, EnhancementStatus, FileEntry, Reason
from shoebox_cli.ui import Ui

log = logging.getLogger("shoebox.cli")

#: where the enhanced files go, relative to OUT; their thumbnails in ``thumbnails/`` inside it
ENHANCED_DIR = "enhanced"
#: where a video's before (its original's 720p preview clip) goes, relative to OUT
BEFORE_DIR = f"{ENHANCED_DIR}/before"
#: how long after the saga's own deadline the CLI still waits for the job's ending to be recorded (the
#: saga polls every 3 s, and the api records its ending on the next message it reads)
MARGIN_S = 60.0
#: the job statuses after which nothing changes any more, as the report says them
JOB_ENDED: dict[str, EnhancementStatus] = {
    "done": "done",
    "partial": "partial",
    "failed": "failed",
    "cancelled": "cancelled",
}
#: the photo and video pipelines' phases, as the bar names them
PHASES = {
    "creative_edit": "creative edit",
    "analysis": "analysis",
    "surgical_edit": "surgical edit",
    "analysing": "analysing",
    "rendering": "rendering",
    "uploading": "uploading",
}
MAX_POLL_S = 1.0
BAR = "enhance"


@dataclasses.dataclass(frozen=True)
class EnhancementOutcome:
    """What the step found: the run for the report's top, and per pick (by key) its result or why not."""

    run: EnhancementRun
    enhanced: Mapping[str, Enhanced]
    errors: Mapping[str, Reason]


def phases_label(state: EnhancementState) -> str:
    """The bar's label: "Enhancing", and the phases running ("2 analysis, 1 rendering 40 %"): a phase that
    reports how far it is (a video's render) says it, as a range when several run."""
    live = [i for i in state.items if not i.ended and i.phase is not None]
    running = Counter(PHASES.get(i.phase, i.phase) for i in live if i.phase is not None)
    percents: dict[str, list[float]] = {}
    for i in live:
        if i.phase is not None and i.phase_percent is not None:
            percents.setdefault(PHASES.get(i.phase, i.phase), []).append(i.phase_percent)

    def said(phase: str, n: int) -> str:
        done = percents.get(phase)
        if not done:
            return f"{n} {phase}"
        low, high = round(min(done)), round(max(done))
        return f"{n} {phase} {low} %" if low == high else f"{n} {phase} {low}–{high} %"

    parts = [said(phase, n) for phase, n in sorted(running.items(), key=lambda kv: -kv[1])]
    return f"Enhancing · {', '.join(parts)}" if parts else "Enhancing"


class Follow:
    """Polls one job until its status is one of ``JOB_ENDED``; ``latest`` is the last answer, so a caller
    whose time ran out still has what had come back."""

    def __init__(
        self, client: ApiClient, session_id: str, job: EnhancementJob, ui: Ui, *, poll_s: float
    ) -> None:
        self.client, self.session_id, self.job, self.ui = client, session_id, job, ui
        self.poll_s = poll_s
        self.latest: EnhancementState | None = None
        self._counted = 0
        self._label = "Enhancing"

    async def run(self) -> EnhancementState:
        self.ui.phase(BAR, self._label, self.job.total)
        etag: str | None = None
        interval = self.poll_s
        while True:
            answer, etag = await self.client.enhancement(self.session_id, self.job.job_id, etag=etag)
            if answer is not None:
                self.show(answer)
                if answer.status in JOB_ENDED:
                    return answer
            interval = self.poll_s if answer is not None else min(interval * 1.5, MAX_POLL_S)
            await anyio.sleep(interval)

    def show(self, answer: EnhancementState) -> None:
        """Take an answer in: the bar advances by the items newly ended and names the phases running."""
        self.latest = answer
        ended = min(sum(1 for i in answer.items if i.ended), self.job.total)
        if ended > self._counted:
            self.ui.advance(BAR, ended - self._counted)
            self._counted = ended
        label = phases_label(answer)
        if label != self._label:
            self._label = label
            self.ui.phase(BAR, label, self.job.total)


async def run_enhancement(
    client: ApiClient,
    session_id: str,
    selection_job_id: str,
    picks: Sequence[str],
    out: Path,
    ui: Ui,
    *,
    budget_s: float,
    poll_s: float,
    concurrency: int = 4,
) -> EnhancementOutcome:
    """Enhance the picks (keys) of the complete selection ``selection_job_id`` within ``budget_s`` and
    download what came back under ``out``. Never raises ``ApiError``: a job that cannot start or be read
    is a run with status ``error``."""
    try:
        job = await client.start_enhancement(session_id, selection_job_id)
    except ApiError as exc:
        ui.note(f"The enhancement did not start: {exc.message}")
        return _outcome(None, None, picks, {}, {}, timed_out=False, error=exc.message)
    follow = Follow(client, session_id, job, ui, poll_s=poll_s)
    error: str | None = None
    with anyio.move_on_after(max(0.0, budget_s)) as scope:
        try:
            await follow.run()
        except ApiError as exc:
            error = exc.message
    timed_out = scope.cancelled_caught
    if timed_out:
        # no item starts any more; the answer is the job as it stands (the running ones finish on the server)
        with anyio.move_on_after(30):
            try:
                answer, _ = await client.enhancement(session_id, job.job_id, cancel=True)
                if answer is not None:
                    follow.show(answer)
            except ApiError as exc:
                log.warning("cancelling enhancement %s: %s", job.job_id, exc)
    state = follow.latest
    enhanced, failed_downloads = await download_enhanced(client, state, out, concurrency)
    outcome = _outcome(job, state, picks, enhanced, failed_downloads, timed_out=timed_out, error=error)
    ui.done(BAR, _summary(outcome.run))
    return outcome


def _summary(run: EnhancementRun) -> str:
    tail = [f"{n} {what}" for n, what in ((run.failed, "failed"), (run.skipped, "skipped")) if n]
    if run.status == "timed_out":
        tail.append("the job's timeout ran out")
    return f"Enhanced {run.enhanced} of {run.total} picks" + (f" ({', '.join(tail)})" if tail else "")


def file_names(items: Sequence[EnhancementItem]) -> dict[str, str]:
    """key -> the enhanced file's name under ``enhanced/``: the upload name when it is a JPEG's (a video's:
    an MP4's), else the name with ``.jpg`` (``.mp4``) added (a HEIC comes back a JPEG, a MOV an MP4, and
    ``a.heic`` must not take ``a.jpg``'s place); a name taken already gets a number."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for item in items:
        kept = (".mp4",) if item.kind == "video" else (".jpg", ".jpeg")
        base = item.name if item.name.lower().endswith(kept) else f"{item.name}{kept[0]}"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            stem, dot, suffix = base.rpartition(".")
            name = f"{stem}-{n}{dot}{suffix}"
        taken.add(name.lower())
        names[item.key] = name
    return names


async def download_enhanced(
    client: ApiClient, state: EnhancementState | None, out: Path, concurrency: int
) -> tuple[dict[str, Enhanced], dict[str, str]]:
    """Download each enhanced item's file and thumbnail under ``out/enhanced``; returns key -> the
    report's ``enhanced`` (paths relative to ``out``), and key -> why its file could not be downloaded."""
    items = [i for i in (state.items if state else []) if i.status == "enhanced" and i.enhanced_url]
    got: dict[str, Enhanced] = {}
    failed: dict[str, str] = {}
    if not items:
        return got, failed
    await anyio.Path(out / ENHANCED_DIR / "thumbnails").mkdir(parents=True, exist_ok=True)
    names = file_names(items)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(item: EnhancementItem) -> None:
        async with limiter:
            rel = f"{ENHANCED_DIR}/{names[item.key]}"
            try:
                await client.download(item.enhanced_url or "", out / rel)
            except ApiError as exc:
                failed[item.key] = exc.message
                return
            thumb: str | None = None
            if item.after_thumbnail_url is not None:
                # a video's thumbnail is a JPEG too: clip.mp4 -> thumbnails/clip.mp4.jpg
                jpeg = names[item.key] if item.kind != "video" else f"{names[item.key]}.jpg"
                thumb = f"{ENHANCED_DIR}/thumbnails/{jpeg}"
                try:
                    await client.download(item.after_thumbnail_url, out / thumb)
                except ApiError as exc:  # the pair then shows the file itself
                    log.warning("enhanced thumbnail of %s: %s", item.key, exc)
                    thumb = None
            before = await _before_clip(client, item, out, f"{BEFORE_DIR}/{names[item.key]}")
            got[item.key] = Enhanced(path=rel, thumbnail=thumb, edits=list(item.changes), before=before)

    async with anyio.create_task_group() as tg:
        for item in items:
            tg.start_soon(one, item)
    return got, failed


async def _before_clip(client: ApiClient, item: EnhancementItem, out: Path, rel: str) -> str | None:
    """A video's original as its 720p preview clip, downloaded to ``rel`` (from a presigned GET the API
    hands out); None for a photo, or when it cannot be had (the pair then shows the original's thumbnail)."""
    if item.kind != "video":
        return None
    try:
        url = await client.video_before_url(item)
        if url is None:
            return None
        await anyio.Path(out / rel).parent.mkdir(parents=True, exist_ok=True)
        await client.download(url, out / rel)
    except ApiError as exc:
        log.warning("the original clip of %s: %s", item.key, exc)
        return None
    return rel


def _outcome(
    job: EnhancementJob | None,
    state: EnhancementState | None,
    picks: Sequence[str],
    enhanced: Mapping[str, Enhanced],
    failed_downloads: Mapping[str, str],
    *,
    timed_out: bool,
    error: str | None,
) -> EnhancementOutcome:
    status: EnhancementStatus
    if timed_out:
        status = "timed_out"
        error = "the job's timeout ran out before the enhancement ended; the job was cancelled"
    elif state is not None and state.status in JOB_ENDED and error is None:
        status = JOB_ENDED[state.status]
        if status == "done" and failed_downloads:
            status = "partial"
        if status == "partial":
            error = (
                f"{state.failed + len(failed_downloads)} of {state.total} picks did not come back enhanced"
            )
        elif status == "failed":
            error = "no pick came back enhanced"
        elif status == "cancelled":
            error = "the job was cancelled"
    else:
        status = "error"
        error = error or "it did not start"
    items = {i.key: i for i in (state.items if state else [])}
    errors: dict[str, Reason] = {}
    for key in dict.fromkeys([*picks, *items]):
        if key in enhanced:
            continue
        errors[key] = _why_not(items.get(key), failed_downloads.get(key), timed_out=timed_out)
    run = EnhancementRun(
        job_id=job.job_id if job else None,
        status=status,
        total=state.total if state else (job.total if job else len(picks)),
        enhanced=len(enhanced),
        failed=state.failed if state else 0,
        skipped=state.skipped if state else 0,
        cancelled=state.cancelled if state else 0,
        error=error,
    )
    return EnhancementOutcome(run=run, enhanced=enhanced, errors=errors)


def _why_not(item: EnhancementItem | None, download: str | None, *, timed_out: bool) -> Reason:
    """Why a pick did not come back enhanced: the service's reason, or how the job ended before it."""
    if download is not None:
        return Reason(code="download_failed", message=download)
    if item is not None and item.status == "failed":
        return Reason(code=item.code or "failed", message=item.error or "no reason given")
    if item is not None and item.status == "skipped":
        return Reason(code="skipped", message=item.error or "skipped")
    if item is not None and item.status == "cancelled":
        return Reason(code="cancelled", message="the job was cancelled before this pick started")
    if timed_out:
        return Reason(code="not_enhanced", message="the job's timeout ran out before this pick was enhanced")
    return Reason(code="not_enhanced", message="the enhancement ended before this pick did")


def apply_enhancement(entries: Sequence[FileEntry], outcome: EnhancementOutcome | None) -> list[FileEntry]:
    """The entries with each pick's ``enhanced`` (or its ``enhancement_error``)."""
    if outcome is None:
        return list(entries)
    return [
        msgspec.structs.replace(
            e, enhanced=outcome.enhanced.get(e.key), enhancement_error=outcome.errors.get(e.key)
        )
        if e.key is not None and (e.key in outcome.enhanced or e.key in outcome.errors)
        else e
        for e in entries
    ]
