"""selection handler: the best media for a post, grouped into scenes (``selection.requested``).

The input is the session's processed-file manifest, as triage reads it: every ``FILE#<key>`` read model that
says ``processed`` (deleted originals left out), with what media_process measured from its latest
``media.file.processed`` event, and the verdicts of the session's latest completed triage (its results file).
Triage discards are excluded here (``discarded_in_triage``); every other file is a candidate the provider
ranks (a file triage never saw is a candidate too: keep when in doubt). Originals are never downloaded.

The provider's answer is checked and repaired in code (``reconcile``): every processed file appears exactly
once across ``selected`` and ``excluded`` before the results file is written, or the job fails
(``selection.failed``, ``provider_error``, the reason in its message). Decided from its inputs only, so a
redelivered request writes the same file and emits the same event.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import msgspec

from services.selection import results as triage_results
from services.selection.manifest import processed_files, provider_items
from services.selection.reconcile import AnswerRejected, reconcile
from services.selection.selection_provider import SelectionError, SelectionItem, SelectionProvider
from shared.events import catalogue as c
from shared.events.selection_results import Exclusion, SelectionResults
from shared.runtime.inbound import RESULTS
from shared.runtime.log import EventLog
from shared.runtime.service import Output
from shared.runtime.storage import ObjectStore

log = logging.getLogger("shoebox.selection")

CONTENT_TYPE = "application/json"


class Deps(msgspec.Struct, frozen=True):
    store: ObjectStore
    log: EventLog
    provider: SelectionProvider


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a selection starts from: the processed files, with the triage verdict each has (if any)."""

    items: list[SelectionItem]  # file-name order
    triage: c.TriageCompletedData | None  # the latest completed triage, None if none completed


def results_key(session_id: str, job_id: str, attempt: int) -> str:
    """``results/<session>/selection-<job>-<attempt>.json``: one file per attempt, so a retry never
    overwrites what an earlier attempt's ``selection.completed`` points at."""
    return f"{RESULTS}/{session_id}/selection-{job_id}-{attempt}.json"


def encode(out: SelectionResults) -> bytes:
    return msgspec.json.encode(out)


def decode(data: bytes) -> SelectionResults:
    return msgspec.json.decode(data, type=SelectionResults)


async def load(store: ObjectStore, event_log: EventLog, session_id: str) -> Manifest:
    """The session's processed files (one read-model query, one read of the log) and their verdicts."""
    processed = await processed_files(event_log, session_id)
    triage = processed.triage
    verdicts: dict[str, c.Verdict] = {}
    if triage is not None:
        done = triage_results.decode(await store.get(triage.results_key))
        verdicts = {v.key: v for v in done.verdicts}
    items = [
        SelectionItem(**msgspec.structs.asdict(i), triage=verdicts.get(i.key))
        for i in provider_items(processed)
    ]
    return Manifest(items=items, triage=triage)


def check_exactly_once(keys: Sequence[str], out: SelectionResults) -> str | None:
    """Why ``out`` does not name every key of ``keys`` exactly once across picks and exclusions, or None."""
    counts = Counter([p.key for p in out.selected] + [e.key for e in out.excluded])
    wanted = set(keys)
    missing = sorted(wanted - set(counts))
    extra = sorted(set(counts) - wanted)
    repeated = sorted(k for k, n in counts.items() if n > 1)
    problems = [
        f"{len(found)} {what} {found[:5]}"
        for what, found in (("missing", missing), ("not processed", extra), ("repeated", repeated))
        if found
    ]
    return "; ".join(problems) or None


async def handle_selection_requested(event: c.SelectionRequested, deps: Deps) -> Sequence[Output]:
    session_id, d = event.sessionid, event.data

    def failed(code: c.FailureCode, message: str) -> list[Output]:
        log.warning("selection %s attempt %d failed: %s: %s", d.job_id, d.attempt, code, message)
        return [c.SelectionFailedData(job_id=d.job_id, attempt=d.attempt, code=code, message=message)]

    if d.count is not None and d.count < 1:
        return failed("invalid_request", f"The count must be at least 1 or all, not {d.count}.")
    manifest = await load(deps.store, deps.log, session_id)
    if not manifest.items:
        return failed("no_files", "No file of this session was processed, so there is nothing to select.")

    discarded = [i for i in manifest.items if i.triage is not None and i.triage.verdict == "discard"]
    candidates = [i for i in manifest.items if i.triage is None or i.triage.verdict != "discard"]
    excluded_in_triage = [
        Exclusion(
            key=i.key,
            name=i.name,
            category="discarded_in_triage",
            reason=f"Discarded in triage: {i.triage.reason}" if i.triage else "Discarded in triage.",
        )
        for i in discarded
    ]
    provider = deps.provider
    repairs: list[str] = []
    tokens: int | None = None
    if candidates:
        try:
            answer = await provider.select(candidates, context=d.context, count=d.count)
            fixed = reconcile({i.key: i.name for i in candidates}, answer, count=d.count)
        except SelectionError as e:
            return failed(e.code, f"The {provider.name} selection failed: {e}")
        except AnswerRejected as e:
            return failed("provider_error", f"The {provider.name} selection's answer is unusable: {e}.")
        selected, excluded, groups, repairs, tokens = (
            fixed.selected,
            fixed.excluded,
            fixed.scene_groups,
            fixed.repairs,
            answer.tokens,
        )
    else:  # triage discarded everything: an empty selection, every file excluded
        selected, excluded, groups = [], [], []
    for note in repairs:
        log.warning("selection %s attempt %d: repaired the answer: %s", d.job_id, d.attempt, note)

    order = {i.key: n for n, i in enumerate(manifest.items)}
    out = SelectionResults(
        job_id=d.job_id,
        attempt=d.attempt,
        provider=provider.name,
        count=d.count,
        context=d.context,
        selected=selected,
        excluded=sorted([*excluded, *excluded_in_triage], key=lambda e: order[e.key]),
        scene_groups=groups,
        repairs=repairs,
        tokens=tokens,
    )
    if (problem := check_exactly_once([i.key for i in manifest.items], out)) is not None:
        return failed("internal_error", f"The selection does not cover the files exactly once: {problem}.")
    key = results_key(session_id, d.job_id, d.attempt)
    await deps.store.put(key, encode(out), CONTENT_TYPE)
    log.info(
        "selection %s attempt %d: %d selected, %d excluded, %d scenes",
        d.job_id,
        d.attempt,
        len(out.selected),
        len(out.excluded),
        len(out.scene_groups),
    )
    return [
        c.SelectionCompletedData(
            job_id=d.job_id,
            attempt=d.attempt,
            selected=len(out.selected),
            excluded=len(out.excluded),
            scenes=len(out.scene_groups),
            results_key=key,
            provider=provider.name,
        )
    ]


def on_give_up(event: c.SelectionRequested, error: BaseException) -> Sequence[Output]:
    """A selection request that failed on every attempt ends as ``selection.failed``, so no saga waits
    forever (the service's ``handlers.on_give_up`` sends selection requests here)."""
    code: c.FailureCode = error.code if isinstance(error, SelectionError) else "internal_error"
    return [
        c.SelectionFailedData(
            job_id=event.data.job_id,
            attempt=event.data.attempt,
            code=code,
            message=f"The selection could not be completed ({type(error).__name__}); it can be retried.",
        )
    ]
