"""The enhancement job's fan-out, in the api's consumer: each ``enhancement.requested`` chunk (the API
records a job as ``enhancement.initialized`` plus chunks of ``enhancement.CHUNK_KEYS`` keys) becomes one
``photo.enhance.requested`` per photo and one ``video.enhance.requested`` per video, in ONE commit (the
chunk is sized so that commit fits a DynamoDB transaction's 100 items).

Where the video service is not deployed (``settings.enhancement.video_deployed`` false; it is true by
default, as the topology deploys it) a video ends at once ``enhancement.item.skipped``: no job waits for a
service that is not there. A chunk that arrives after the person cancelled the job (``JOB.cancel_requested``)
ends its items ``cancelled``: none of them starts.

A feedback request (``enhancement.feedback.requested``, the API's ``POST …/items/{name}/feedback``) is routed
by the item's kind: a photo's becomes ``photo.enhance.requested`` with the sentence and its revision (the
enhance service runs the pass and answers ``enhancement.feedback.completed``), a video's the same on
``video.enhance.requested`` once the video service is deployed; where no service would answer, the
answer is recorded here at once (not ok, with why), so no client waits for a pass that never runs.

The enhancement saga's commands (``deploy/sagas/enhancement.asl.json``) end here too: ``completion``
records ``enhancement.completed`` v2 from the job's counters, once every item ended or the saga's
deadline passed (``timed_out``).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.runtime.inbound import SagaCommand
from shared.runtime.log import EventLog
from shared.runtime.projections import enhanced_item_key, job_key
from shared.runtime.read_models import EnhancedItemView, JobView
from shared.runtime.service import Output

#: why a video ends skipped
VIDEO_NOT_DEPLOYED = "the video service is not deployed: videos are not enhanced yet"


def fan_out(chunk: c.EnhancementRequestedData, *, video_deployed: bool, cancelled: bool) -> list[Output]:
    """The item events of one chunk, in its order (each with its job-wide index)."""
    videos = set(chunk.videos)
    out: list[Output] = []
    for i, key in enumerate(chunk.keys):
        index = chunk.first_index + i
        if cancelled:
            out.append(en.ItemCancelledData(job_id=chunk.job_id, key=key))
        elif key not in videos:
            out.append(c.PhotoEnhanceRequestedData(job_id=chunk.job_id, key=key, index=index))
        elif video_deployed:
            out.append(c.VideoEnhanceRequestedData(job_id=chunk.job_id, key=key, index=index))
        else:
            out.append(
                en.ItemSkippedData(
                    job_id=chunk.job_id, key=key, kind="video", reason=VIDEO_NOT_DEPLOYED, index=index
                )
            )
    return out


async def chunk_items(
    event: c.EnhancementRequested, log: EventLog, *, video_deployed: bool
) -> Sequence[Output]:
    """One chunk of a job's keys: its items requested (or skipped, or cancelled), in one commit
    (``handlers.handle_enhancement_requested``)."""
    job = await log.get_view(job_key(event.sessionid, event.data.job_id), type=JobView)
    cancelled = job is not None and job.cancel_requested
    return fan_out(event.data, video_deployed=video_deployed, cancelled=cancelled)


async def feedback_pass(
    event: c.EnhancementFeedbackRequested, log: EventLog, *, video_deployed: bool = False
) -> Sequence[Output]:
    """The item's pass requested from its service (its kind's), or answered at once when none would."""
    d = event.data
    item = await log.get_view(enhanced_item_key(event.sessionid, d.job_id, d.key), type=EnhancedItemView)
    if item is None or item.kind is None:
        why = "the item is not part of this enhancement"
    elif item.kind == "video" and not video_deployed:
        why = VIDEO_NOT_DEPLOYED
    else:
        cls = c.PhotoEnhanceRequestedData if item.kind == "photo" else c.VideoEnhanceRequestedData
        index = item.index or 0
        return [cls(job_id=d.job_id, key=d.key, index=index, feedback=d.feedback, revision=d.revision)]
    return [en.FeedbackCompletedData(job_id=d.job_id, key=d.key, revision=d.revision, ok=False, message=why)]


async def completion(cmd: SagaCommand, log: EventLog) -> Sequence[Output]:
    """The saga saw every item end (``complete_enhancement``) or ran out of polls
    (``enhancement_timed_out``): the job's ending, with its counts as the JOB view has them. Nothing
    when the job is not there or has ended already (one ending per job)."""
    d = cmd.detail
    job = await log.get_view(job_key(d.session_id, d.job_id), type=JobView)
    if job is None or job.kind != "enhancement" or job.status != "processing":
        return []
    total = job.total or 0
    status = en.completion_status(
        total=total,
        done=job.done,
        failed=job.failed,
        cancelled=job.cancelled,
        skipped=job.skipped,
        cancel_requested=job.cancel_requested,
    )
    return [
        en.EnhancementCompletedV2Data(
            job_id=d.job_id,
            status=status,
            total=total,
            done=job.done,
            failed=job.failed,
            cancelled=job.cancelled,
            skipped=job.skipped,
            timed_out=d.command == "enhancement_timed_out",
        )
    ]
