"""enhance handlers: one photo per ``photo.enhance.requested``, a first pass or a feedback pass.

A first pass (no ``feedback``): nothing when the item has ended already (its ``ENDED#`` claim exists: a
redelivery, or a cancel that came first); ``enhancement.item.cancelled`` when the person cancelled the job
before the item started; else the original is downloaded, ``pipeline.enhance_photo`` runs in a worker thread
(it is CPU bound and the provider protocol is synchronous), each phase is committed as
``photo.enhance.phase`` the moment it ends (so the API and the page show it live), the enhanced JPEG and
its thumbnail are written (``result_keys``) and ``photo.enhanced`` ends the item. A vanished original or a
provider that gave up after its own retries ends it ``photo.enhance.failed`` with the reason; the job's
other items go on. Every ending takes the item's ``ENDED#`` claim in the processor's one commit, so a
redelivery or a racing cancel never counts an item twice (the commit fails, the handler runs again and
finds the item ended).

A feedback pass (``feedback`` set, ``revision`` the request it answers; routed here by the api's consumer,
``services/api/fanout.py``): from the item's current result, with its earlier turns as context; its files
go under new keys per revision (never overwriting what a client may be reading); it ends
``enhancement.feedback.completed`` (ok or not, with what the provider did not understand), takes no claim
and never changes the job's counts (``feedback.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.enhance import feedback
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
from shared.runtime import enhancement_items
from shared.runtime.enhancement_items import before_start
from shared.runtime.log import EventLog
from shared.runtime.service import Output

log = logging.getLogger("shoebox.enhance")

__all__ = ["Deps", "handle_photo_enhance_requested", "on_give_up"]


async def handle_photo_enhance_requested(event: c.PhotoEnhanceRequested, deps: Deps) -> Sequence[Output]:
    """One photo of an enhancement job (a first pass), or a feedback pass over an enhanced one."""
    if event.data.feedback is not None:
        return await feedback.feedback_pass(event, deps)
    sid, d = event.sessionid, event.data
    if (instead := await before_start(deps.log, sid, d.job_id, d.key)) is not None:
        log.info("%s of %s: %s", d.key, d.job_id, "cancelled" if instead else "ended already")
        return instead
    try:
        result = await run_pipeline(event, deps, d.key, context=await edit_context(deps.log, sid, d.key))
    except Failed as f:
        log.warning("%s of %s failed: %s: %s", d.key, d.job_id, f.code, f.message)
        return [c.PhotoEnhanceFailedData(job_id=d.job_id, key=d.key, code=f.code, message=f.message)]
    keys = result_keys(sid, d.job_id, d.key)
    await store_result(deps, keys, result)
    log.info("%s of %s: %d edits", d.key, d.job_id, len(result.edits))
    return [
        c.PhotoEnhancedData(
            job_id=d.job_id,
            key=d.key,
            enhanced_key=keys[0],
            thumbnail_key=keys[1],
            changes=[describe(e) for e in result.edits],
        )
    ]


async def on_give_up(event: object, error: BaseException, *, log_: EventLog) -> Sequence[Output]:
    """A request that failed on every attempt still ends: the item ``photo.enhance.failed`` (unless it
    ended otherwise meanwhile: its one ending stands), a feedback pass ``feedback.completed`` not ok. So
    neither the job's saga nor a client waiting for a revision waits for a message in the DLQ."""
    if not isinstance(event, c.PhotoEnhanceRequested):
        return []
    d = event.data
    why = f"The enhancement could not be completed ({type(error).__name__}); it can be asked for again."
    return await enhancement_items.given_up(
        log_,
        event.sessionid,
        d,
        why,
        c.PhotoEnhanceFailedData(job_id=d.job_id, key=d.key, code="internal_error", message=why),
    )
