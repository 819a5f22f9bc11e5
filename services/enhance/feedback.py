"""A feedback pass: another pass over an enhanced photo, from its CURRENT result, as the person's sentence
asks (``photo.enhance.requested`` with ``feedback`` and ``revision``, routed by the api's consumer).

The pass's context is the item's earlier turns (``FEEDBACK#`` history: each sentence and what the provider
answered), so a model provider knows what was asked before. Its files go under the revision's own keys
(``steps.result_keys``): the current result, which a client may be reading, is never overwritten. It ends
``enhancement.feedback.completed`` either way (not ok: the message says why), takes no ``ENDED#`` claim and
never touches the job's counters: the item ended when it was enhanced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.enhance.provider import EditContext
from services.enhance.steps import (
    Deps,
    Failed,
    describe,
    edit_context,
    result_keys,
    run_pipeline,
    store_result,
)
from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.runtime import enhancement_items
from shared.runtime.projections import enhanced_item_key
from shared.runtime.read_models import EnhancedItemView
from shared.runtime.service import Output

log = logging.getLogger("shoebox.enhance")


async def earlier_turns(deps: Deps, session_id: str, job_id: str, key: str, revision: int) -> EditContext:
    """The item's answered feedback turns before ``revision``, oldest first, as the pass's context."""
    history = await enhancement_items.earlier_turns(deps.log, session_id, job_id, key, revision)
    return await edit_context(deps.log, session_id, key, history)


async def feedback_pass(event: c.PhotoEnhanceRequested, deps: Deps) -> Sequence[Output]:
    """Run the pass and answer it (``enhancement.feedback.completed``)."""
    sid, d = event.sessionid, event.data
    sentence = d.feedback or ""
    item = await deps.log.get_view(enhanced_item_key(sid, d.job_id, d.key), type=EnhancedItemView)
    if item is None or item.status != "enhanced" or item.enhanced_key is None:
        state = item.status if item is not None and item.status else "not enhanced"
        return [
            enhancement_items.failed_pass(d, f"The item is {state}: only an enhanced photo takes feedback.")
        ]
    revision = d.revision if d.revision is not None else item.feedback_requested
    context = await earlier_turns(deps, sid, d.job_id, d.key, revision)
    try:
        result = await run_pipeline(event, deps, item.enhanced_key, context=context, sentence=sentence)
    except Failed as f:
        log.warning("feedback %d on %s failed: %s", revision, d.key, f.message)
        return [enhancement_items.failed_pass(d, f.message)]
    keys = result_keys(sid, d.job_id, d.key, revision)
    await store_result(deps, keys, result)
    said = next((p.note for p in result.phases if p.phase == "feedback"), "")
    log.info("feedback %d on %s: %s", revision, d.key, said)
    return [
        en.FeedbackCompletedData(
            job_id=d.job_id,
            key=d.key,
            revision=revision,
            ok=True,
            enhanced_key=keys[0],
            thumbnail_key=keys[1],
            changes=[describe(e) for e in result.edits],
            message=said,
        )
    ]
