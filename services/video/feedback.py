"""A feedback pass on an enhanced clip (``video.enhance.requested`` with ``feedback`` and ``revision``,
routed by the api's consumer): the pipeline runs again over the ORIGINAL with the person's sentence and the
advice of the item's current result (stored beside it, ``steps.advice_key``) as ``previous``, so the
provider adjusts what it asked for before instead of re-encoding an already re-encoded clip. The item's
earlier turns (``FEEDBACK#`` history) are the context. Its files go under the revision's own keys (the
current result, which a client may be playing, is never overwritten). It ends
``enhancement.feedback.completed`` either way (not ok: the message says why), takes no ``ENDED#`` claim and
never touches the job's counters: the item ended when it was enhanced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.video.model import VideoContext
from services.video.steps import Deps, Failed, previous_advice, result_keys, run_pipeline, video_context
from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.runtime import enhancement_items
from shared.runtime.projections import enhanced_item_key
from shared.runtime.read_models import EnhancedItemView
from shared.runtime.service import Output

log = logging.getLogger("shoebox.video")


async def earlier_turns(deps: Deps, session_id: str, job_id: str, key: str, revision: int) -> VideoContext:
    """The item's answered feedback turns before ``revision``, oldest first, as the pass's context."""
    history = await enhancement_items.earlier_turns(deps.log, session_id, job_id, key, revision)
    return await video_context(deps.log, session_id, key, history)


def said(reason: str, not_understood: tuple[str, ...], changes: list[str]) -> str:
    """What the pass tells the person: why (the provider's words), the edits now applied, and the words it
    could not act on (said plainly, never silently dropped)."""
    text = " ".join(
        part
        for part in (
            reason.strip(),
            f"Edits now: {'; '.join(changes)}." if changes else "No edits now: the clip as it was.",
            f"Not understood: {', '.join(not_understood)}." if not_understood else "",
        )
        if part
    )
    return text


async def feedback_pass(event: c.VideoEnhanceRequested, deps: Deps) -> Sequence[Output]:
    """Run the pass and answer it (``enhancement.feedback.completed``)."""
    sid, d = event.sessionid, event.data
    item = await deps.log.get_view(enhanced_item_key(sid, d.job_id, d.key), type=EnhancedItemView)
    if item is None or item.status != "enhanced" or item.enhanced_key is None:
        state = item.status if item is not None and item.status else "not enhanced"
        return [
            enhancement_items.failed_pass(d, f"The item is {state}: only an enhanced clip takes feedback.")
        ]
    revision = d.revision if d.revision is not None else item.feedback_requested
    context = await earlier_turns(deps, sid, d.job_id, d.key, revision)
    previous = await previous_advice(deps, item.enhanced_key)
    keys = result_keys(sid, d.job_id, d.key, revision)
    try:
        result = await run_pipeline(
            event, deps, keys, context=context, sentence=d.feedback or "", previous=previous
        )
    except Failed as f:
        log.warning("feedback %d on %s failed: %s", revision, d.key, f.message)
        return [enhancement_items.failed_pass(d, f.message)]
    changes = list(result.filters)
    advice = result.advice
    message = said(advice.recommendations.reason, advice.not_understood, changes)
    log.info("feedback %d on %s: %s", revision, d.key, message)
    return [
        en.FeedbackCompletedData(
            job_id=d.job_id,
            key=d.key,
            revision=revision,
            ok=True,
            enhanced_key=keys.video,
            thumbnail_key=keys.thumbnail,
            changes=changes,
            message=message,
        )
    ]
