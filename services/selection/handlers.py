"""selection handlers: keep/discard verdicts for a session's processed files (``triage.requested``); the
selection itself (``selection.requested``) is ``selection_handler``'s.

The manifest is every file of the session whose read model (``FILE#<key>``) says ``processed`` (deleted
originals left out); what each was measured to be comes from its latest ``media.file.processed`` event.
Every manifest file gets exactly one verdict: the provider's answer is checked against the manifest before
anything is written, the verdicts go to S3 as one JSON file, and ``triage.completed`` carries its key and
the counts. The handler decides from its inputs only, so a redelivered request writes the same file and
emits the same event (which the log then refuses as already handled).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import msgspec

from services.selection import results, selection_handler
from services.selection.manifest import processed_files, provider_items
from services.selection.metering import MeteredTriage, Usage
from services.selection.providers import ProviderError, TriageItem, TriageProvider
from services.selection.selection_handler import handle_selection_requested
from shared.events import catalogue as c
from shared.runtime.log import EventLog
from shared.runtime.projections import meta_key
from shared.runtime.read_models import MetaView
from shared.runtime.service import Output
from shared.runtime.storage import ObjectStore

log = logging.getLogger("shoebox.selection")

__all__ = ["handle_selection_requested", "handle_triage_requested", "on_give_up"]


class Deps(msgspec.Struct, frozen=True):
    store: ObjectStore
    log: EventLog
    provider: TriageProvider


async def manifest(deps: Deps, session_id: str) -> list[TriageItem]:
    """Every processed (and not deleted) file of the session, in file-name order."""
    return provider_items(await processed_files(deps.log, session_id))


def _check(items: Sequence[TriageItem], verdicts: Sequence[c.Verdict]) -> str | None:
    """Why the verdicts do not cover the manifest exactly once each, or None when they do."""
    wanted = {i.key for i in items}
    counts = Counter(v.key for v in verdicts)
    missing = sorted(wanted - set(counts))
    extra = sorted(set(counts) - wanted)
    repeated = sorted(k for k, n in counts.items() if n > 1)
    problems = []
    if missing:
        problems.append(f"{len(missing)} file(s) without a verdict {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} verdict(s) for files not in the manifest {extra[:5]}")
    if repeated:
        problems.append(f"{len(repeated)} file(s) with more than one verdict {repeated[:5]}")
    bad = sorted(v.key for v in verdicts if not 0.0 <= v.confidence <= 1.0)
    if bad:
        problems.append(f"{len(bad)} confidence(s) outside 0..1 {bad[:5]}")
    return "; ".join(problems) or None


async def handle_triage_requested(event: c.TriageRequested, deps: Deps) -> Sequence[Output]:
    session_id, d = event.sessionid, event.data

    def failed(code: c.FailureCode, message: str) -> list[Output]:
        log.warning("triage %s attempt %d failed: %s: %s", d.job_id, d.attempt, code, message)
        return [c.TriageFailedData(job_id=d.job_id, attempt=d.attempt, code=code, message=message)]

    items = await manifest(deps, session_id)
    if not items:
        return failed("no_files", "No file of this session was processed, so there is nothing to triage.")
    if len(items) != d.processed:
        # files that finished after the saga counted, or a count that included a later-deleted file:
        # the manifest is what exists now
        log.info("triage %s: %d processed files, the request counted %d", d.job_id, len(items), d.processed)

    meta = await deps.log.get_view(meta_key(session_id), type=MetaView)
    context = meta.context if meta is not None else ""
    provider = deps.provider
    usage: Usage | None = None
    try:
        if isinstance(provider, MeteredTriage):
            verdicts, usage = await provider.triage_metered(items, context=context)
        else:
            verdicts = await provider.triage(items, context=context)
    except ProviderError as exc:
        # the provider retried within its own budget (an AI service's failures are not worth redelivering:
        # every redelivery spends the tokens again); what is left fails the job with its reason
        return failed("provider_error", f"The {provider.name} provider failed: {exc}")
    if (problem := _check(items, verdicts)) is not None:
        return failed(
            "internal_error", f"The {provider.name} provider's verdicts do not match the files: {problem}."
        )

    by_key = {v.key: v for v in verdicts}
    ordered = [by_key[i.key] for i in items]
    out = results.TriageResults(
        job_id=d.job_id,
        attempt=d.attempt,
        provider=provider.name,
        verdicts=ordered,
        gaps=list(d.gaps),
        gaps_count=max(d.gaps_count, len(d.gaps)),
        usage=usage,
    )
    if out.keep + out.discard != len(items):  # the job's counts against the manifest, once more
        return failed("internal_error", f"{out.keep} keep + {out.discard} discard != {len(items)} files.")
    key = results.results_key(session_id, d.job_id, d.attempt)
    await deps.store.put(key, results.encode(out), results.CONTENT_TYPE)
    log.info("triage %s attempt %d: keep %d, discard %d", d.job_id, d.attempt, out.keep, out.discard)
    return [
        c.TriageCompletedData(
            job_id=d.job_id,
            attempt=d.attempt,
            keep=out.keep,
            discard=out.discard,
            results_key=key,
            provider=provider.name,
        )
    ]


def on_give_up(event: object, error: BaseException) -> Sequence[Output]:
    """A triage request that failed on every attempt ends as ``triage.failed``, so no saga waits forever
    (a selection request as ``selection.failed``)."""
    if isinstance(event, c.SelectionRequested):
        return selection_handler.on_give_up(event, error)
    if not isinstance(event, c.TriageRequested):
        return []
    code: c.FailureCode = "provider_error" if isinstance(error, ProviderError) else "internal_error"
    return [
        c.TriageFailedData(
            job_id=event.data.job_id,
            attempt=event.data.attempt,
            code=code,
            message=f"Triage could not be completed ({type(error).__name__}); it can be retried.",
        )
    ]
