"""video handlers: one clip per ``video.enhance.requested``, a first pass or a feedback pass.

A first pass (no ``feedback``): nothing when the item has ended already (its ``ENDED#`` claim exists: a
redelivery, or a cancel that came first); ``enhancement.item.cancelled`` when the person cancelled the job
before the item started; else the original (and, for a model provider, media_process's 720p preview) is
downloaded into a private work dir, ``pipeline.enhance_video`` analyses and renders it with each phase (and
the render's progress) committed as ``video.enhance.phase`` the moment it happens, the clip, its thumbnail
and the provider's advice are stored (``steps.result_keys``, one whole ``PUT`` each) and ``video.enhanced``
ends the item with the filters applied as its changes.

What a retry cannot change ends the item ``video.enhance.failed`` v2: a vanished original (``no_files``), a
clip longer than the limit (``too_long``, with its duration and the limit), a file ffmpeg cannot read
(``unreadable``, with ffmpeg's reason), a provider that gave up after its own retries (``provider_error``).
ffmpeg's own failure on a readable file (``RenderFailed``) is raised, so the message is retried (the
topology's receive count); a request that fails on every delivery still ends its item (``on_give_up``).
Every ending takes the item's ``ENDED#`` claim in the processor's one commit: an item ends once.

A feedback pass (``feedback`` set, routed here by the api's consumer): ``feedback.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.video import feedback
from services.video.steps import Deps, Failed, result_keys, run_pipeline, video_context
from shared.events import catalogue as c
from shared.events import video as vi
from shared.runtime import enhancement_items
from shared.runtime.enhancement_items import before_start
from shared.runtime.log import EventLog
from shared.runtime.service import Output

log = logging.getLogger("shoebox.video")

__all__ = ["Deps", "handle_video_enhance_requested", "on_give_up"]


def failure(d: c.VideoEnhanceRequestedData, f: Failed) -> vi.VideoEnhanceFailedV2Data:
    """The item's ending for a failure a retry cannot change."""
    return vi.VideoEnhanceFailedV2Data(
        job_id=d.job_id, key=d.key, code=f.code, message=f.message, duration_s=f.duration_s, limit_s=f.limit_s
    )


async def handle_video_enhance_requested(event: c.VideoEnhanceRequested, deps: Deps) -> Sequence[Output]:
    """One clip of an enhancement job (a first pass), or a feedback pass over an enhanced one."""
    if event.data.feedback is not None:
        return await feedback.feedback_pass(event, deps)
    sid, d = event.sessionid, event.data
    if (instead := await before_start(deps.log, sid, d.job_id, d.key)) is not None:
        log.info("%s of %s: %s", d.key, d.job_id, "cancelled" if instead else "ended already")
        return instead
    keys = result_keys(sid, d.job_id, d.key)
    try:
        result = await run_pipeline(event, deps, keys, context=await video_context(deps.log, sid, d.key))
    except Failed as f:
        log.warning("%s of %s failed: %s: %s", d.key, d.job_id, f.code, f.message)
        return [failure(d, f)]
    log.info("%s of %s: %s", d.key, d.job_id, ", ".join(result.filters) or "left as it was")
    return [
        c.VideoEnhancedData(
            job_id=d.job_id,
            key=d.key,
            enhanced_key=keys.video,
            thumbnail_key=keys.thumbnail,
            changes=list(result.filters),
        )
    ]


async def on_give_up(event: object, error: BaseException, *, log_: EventLog) -> Sequence[Output]:
    """A request that failed on every attempt (ffmpeg failing each time) still ends: the item
    ``video.enhance.failed`` (unless it ended otherwise meanwhile: its one ending stands), a feedback pass
    ``feedback.completed`` not ok. So neither the job's saga nor a client waits for a message in the DLQ."""
    if not isinstance(event, c.VideoEnhanceRequested):
        return []
    d = event.data
    why = f"The clip could not be enhanced ({type(error).__name__}: {error}); it can be asked for again."
    return await enhancement_items.given_up(
        log_,
        event.sessionid,
        d,
        why,
        vi.VideoEnhanceFailedV2Data(job_id=d.job_id, key=d.key, code="internal_error", message=why),
    )
