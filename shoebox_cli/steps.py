"""The main job's steps after processing, each one poll of the public API: triage, then selection.

``run_triage`` starts the session's triage once the uploads are over and every uploaded file has its result
(the saga then finds every expected file decided and analyses at once), finalizes it, and polls its results
with their ETag until the job is ``complete`` (or ``error``). ``start_selection`` asks for ``count`` picks
(None: "all") and ``await_selection`` polls ``GET …/selections/{job}`` until it is complete or an error.
``apply_outcomes`` writes both into the report's entries: a verdict on every processed file, ``selected``
(its scene by label) on the picks and ``excluded`` on every other processed file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import anyio
import msgspec

from shoebox_cli.client import ApiClient, SelectionJob, SelectionState, TriageResults
from shoebox_cli.report import Exclusion, FileEntry, Selection, SelectionRun, Triage
from shoebox_cli.ui import Ui

#: how long a poll waits at most between two answers that changed nothing
MAX_POLL_S = 1.0
#: the selection statuses after which nothing changes any more
SELECTION_ENDED = ("complete", "error")


class StepFailed(Exception):
    """A step ended without its result; the message is one line for the person at the terminal."""


async def run_triage(
    client: ApiClient, session_id: str, uploaded: int, ui: Ui, *, poll_s: float
) -> dict[str, Triage]:
    """Triage the session's ``uploaded`` files; returns key -> verdict. Its own progress bar ("triage")
    counts the files decided, then ends when the verdicts arrive."""
    job = await client.start_triage(session_id, uploaded)
    await client.finalize_triage(session_id, job.job_id, uploaded)
    ui.phase("triage", "Triage", uploaded)
    counted = 0
    etag: str | None = None
    latest: TriageResults | None = None
    interval = poll_s
    while True:
        answer, etag = await client.triage(session_id, job.job_id, etag=etag)
        if answer is not None:
            latest = answer
            decided = min(answer.decided, uploaded)
            if decided > counted:
                ui.advance("triage", decided - counted)
                counted = decided
            if answer.status in ("complete", "error"):
                break
        interval = poll_s if answer is not None else min(interval * 1.5, MAX_POLL_S)
        await anyio.sleep(interval)
    if latest.status == "error":
        ui.done("triage", f"Triage failed: {latest.error or 'no reason given'}")
        raise StepFailed(f"triage failed: {latest.error or 'no reason given'}")
    verdicts = [*(latest.keep or []), *(latest.discard or [])]
    out = {
        v.key: Triage(
            verdict="keep" if v.verdict == "keep" else "discard",
            reason=v.reason,
            confidence=min(1.0, max(0.0, v.confidence)),
        )
        for v in verdicts
    }
    ui.done(
        "triage",
        f"Triage: {len(latest.keep or [])} kept, {len(latest.discard or [])} proposed for discarding",
    )
    return out


async def start_selection(
    client: ApiClient, session_id: str, count: int | None, ui: Ui, *, context: str | None = None
) -> SelectionJob:
    """Ask for a selection of ``count`` picks (None: "all", every kept item ranked); its bar starts."""
    job = await client.start_selection(session_id, count, context=context)
    ui.phase("selection", "Selecting", 1)
    return job


async def await_selection(
    client: ApiClient, session_id: str, job: SelectionJob, ui: Ui, *, poll_s: float
) -> SelectionState:
    """Poll the selection (``If-None-Match``: an unchanged answer is a 304) until it is ``complete`` or
    ``error``, and return that last answer; the bar ends with one line saying which."""
    etag: str | None = None
    latest: SelectionState | None = None
    interval = poll_s
    while True:
        answer, etag = await client.selection(session_id, job.job_id, etag=etag)
        if answer is not None:
            latest = answer
            if answer.status in SELECTION_ENDED:
                break
        interval = poll_s if answer is not None else min(interval * 1.5, MAX_POLL_S)
        await anyio.sleep(interval)
    ui.advance("selection")
    if latest.status != "complete":
        ui.done("selection", f"Selection failed: {failure(latest)}")
        return latest
    n, scenes = len(latest.selected), len(latest.scene_groups)
    ui.done(
        "selection",
        f"Selected {n} of {n + len(latest.excluded)} files in {scenes} scene{'' if scenes == 1 else 's'}",
    )
    return latest


def failure(state: SelectionState) -> str:
    """Why a selection ended in ``error``, in one line (its code and message)."""
    why = state.error or "no reason given"
    return f"{why} ({state.code})" if state.code else why


def selection_run(
    job: SelectionJob | None, count: int | None, state: SelectionState | None, *, timed_out: bool
) -> SelectionRun:
    """The report's summary of the selection asked for: its job, status and, when it failed, why."""
    status: Literal["complete", "error", "timed_out"]
    if state is not None and state.status in SELECTION_ENDED:
        status = "complete" if state.status == "complete" else "error"
        error = failure(state) if status == "error" else None
    else:
        status = "timed_out" if timed_out else "error"
        error = "the job's timeout ran out before the selection ended" if timed_out else "it did not start"
    return SelectionRun(
        job_id=job.job_id if job else None,
        status=status,
        count="all" if count is None else count,
        provider=state.provider if state else None,
        scenes=[g.label for g in state.scene_groups] if state else [],
        error=error,
    )


def apply_outcomes(
    entries: Sequence[FileEntry],
    *,
    triage: Mapping[str, Triage],
    selection: SelectionState | None,
    key_to_path: Mapping[str, str],
) -> list[FileEntry]:
    """The entries with each processed file's verdict and, when a selection completed, its pick (its scene
    by label) or exclusion. A near-duplicate's ``duplicate_of`` names the preferred file by its report path
    (a reader of the report knows paths, not keys)."""
    done = selection is not None and selection.status == "complete"
    picks = {p.key: p for p in selection.selected} if selection and done else {}
    exclusions = {x.key: x for x in selection.excluded} if selection and done else {}
    scenes = {g.id: g.label for g in selection.scene_groups} if selection and done else {}
    out: list[FileEntry] = []
    for e in entries:
        if e.status != "processed" or e.key is None:
            out.append(e)
            continue
        pick, excluded = picks.get(e.key), exclusions.get(e.key)
        out.append(
            msgspec.structs.replace(
                e,
                triage=triage.get(e.key, e.triage),
                selected=Selection(
                    rank=pick.rank,
                    scene=scenes.get(pick.scene, pick.scene) if pick.scene else None,
                    reason=pick.reason,
                    comparison=pick.comparison,
                )
                if pick is not None
                else None,
                excluded=Exclusion(
                    category=excluded.category,
                    reason=excluded.reason,
                    duplicate_of=key_to_path.get(excluded.duplicate_of, excluded.duplicate_of)
                    if excluded.duplicate_of
                    else None,
                )
                if excluded is not None
                else None,
            )
        )
    return out


def parse_select(value: str) -> int | None:
    """``--select``: ``all`` (None: every kept item), or a count (0: no selection)."""
    if value.strip().lower() == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--select takes a number or 'all', not {value!r}") from None
    if n < 0:
        raise ValueError("--select takes a number ≥ 0 or 'all'")
    return n
