"""The api's consumer handlers: what a saga decided becomes events in the session's log, and every upload
that lands is recorded as pending until media_process decides it.

The saga (``deploy/sagas/triage.asl.json``) only reads read models and sends commands; recording
``shoebox.triage.requested`` here keeps every request in the log and sends it out through the relay.

S3 announces every upload to the api as well as to media_process (``topology.py``), so a file shows as
``pending`` as soon as it is in storage, however far behind (or dead) media_process is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from services.api import fanout
from shared.events import catalogue as c
from shared.runtime.inbound import UPLOADS, ObjectCreated, SagaCommand, upload_of
from shared.runtime.log import EventLog, UnknownSession
from shared.runtime.projections import file_key, job_key, meta_key, pending_key, session_pk
from shared.runtime.read_models import CountersView, FileView, JobView, MetaView, PendingView
from shared.runtime.service import Emit, Output
from shared.runtime.storage import ObjectNotFound, ObjectStore
from shared.runtime.views import ViewExpectation

log = logging.getLogger("shoebox.api.consumer")

#: at most this many gap names ride in the event (it must stay small); gaps_count has them all
MAX_GAPS = 100


class Deps(msgspec.Struct, frozen=True):
    log: EventLog
    store: ObjectStore
    #: whether the video service is deployed (``settings.enhancement.video_deployed``): the fan-out skips
    #: an enhancement's videos while it is not (``fanout.py``)
    video_deployed: bool = False


async def _gaps(cmd: SagaCommand, deps: Deps, counters: CountersView) -> list[str]:
    """Files the triage will not judge: uploads that failed on the client (named at finalize), files
    media_process rejected, and objects that arrived but were never decided."""
    sid = cmd.detail.session_id
    gaps = list(counters.upload_failed)
    files = {f.key: f for f in await deps.log.query_views(session_pk(sid), "FILE#", type=FileView)}
    gaps += sorted(k if f.name is None else f.name for k, f in files.items() if f.status == "rejected")
    async for obj in deps.store.list(f"{UPLOADS}/{sid}/"):
        if obj.key not in files and (where := upload_of(obj.key)) is not None:  # a refused key is no gap
            gaps.append(where[1])
    return gaps


async def _selection_command(cmd: SagaCommand, deps: Deps) -> Sequence[Output]:
    """The selection saga's steps (``deploy/sagas/selection.asl.json``): the request, with the count,
    context and model the person asked for (from the job's view), or the job's failure."""
    d = cmd.detail
    if d.command == "selection_timed_out":
        return [
            c.SelectionFailedData(
                job_id=d.job_id,
                attempt=d.attempt,
                code="timed_out",
                message="The files, the triage or the selection did not finish before the selection's "
                "deadline; ask for the selection again.",
            )
        ]
    if d.command == "selection_triage_failed":
        return [
            c.SelectionFailedData(
                job_id=d.job_id,
                attempt=d.attempt,
                code="invalid_request",
                message="The session's triage failed: retry the triage, then ask for the selection again.",
            )
        ]
    job = await deps.log.get_view(job_key(d.session_id, d.job_id), type=JobView)
    return [
        c.SelectionRequestedData(
            job_id=d.job_id,
            context=(job.context or "") if job else "",
            count=job.count if job else None,
            model=job.model if job else None,
            attempt=d.attempt,
        )
    ]


async def handle_saga_command(cmd: SagaCommand, deps: Deps) -> Sequence[Output]:
    d = cmd.detail
    if d.command in ("request_selection", "selection_timed_out", "selection_triage_failed"):
        return await _selection_command(cmd, deps)
    if d.command in ("complete_enhancement", "enhancement_timed_out"):
        return await fanout.completion(cmd, deps.log)
    if d.command == "triage_timed_out":
        return [
            c.TriageFailedData(
                job_id=d.job_id,
                attempt=d.attempt,
                code="timed_out",
                message="No verdicts arrived before the triage deadline; retry the triage to run it again.",
            )
        ]
    counters = await deps.log.counters(d.session_id)
    gaps = await _gaps(cmd, deps, counters)
    return [
        c.TriageRequestedData(
            job_id=d.job_id,
            attempt=d.attempt,
            expected=counters.expected,
            processed=counters.processed,
            rejected=counters.rejected,
            duplicate=counters.duplicate,
            gaps=gaps[:MAX_GAPS],
            gaps_count=len(gaps),
            timed_out=d.timed_out,
        )
    ]


async def handle_object_created(event: ObjectCreated, deps: Deps) -> Sequence[Output]:
    """An upload landed: pending, unless its bytes are decided already (a decision committed first, or a
    second PUT of the same bytes) or it is pending already. Only the object now under the key counts: an
    announcement of bytes replaced or deleted since is left to the announcement of what is there now. The
    commit expects the key's items as read here, so a decision committed meanwhile is seen on the next
    try, never hidden by a pending."""
    where = upload_of(event.key)
    if where is None:
        return []  # not a key the API issues: never pending (media_process refuses and deletes it)
    session_id, name = where
    decided_key, pending_at = file_key(session_id, event.key), pending_key(session_id, event.key)
    decided = await deps.log.get_view(decided_key, type=FileView)
    pending = await deps.log.get_view(pending_at, type=PendingView)
    if await deps.log.get_view(meta_key(session_id), type=MetaView) is None:
        # nothing is recorded in a session that does not exist: given up at once, on the system stream
        raise UnknownSession(f"session {session_id} does not exist: {event.key!r} is not recorded")
    try:
        info = await deps.store.head(event.key)
    except ObjectNotFound:
        return []  # deleted since (a cleanup): nothing to wait for
    announced = event.detail.object.etag or event.detail.object.eTag
    if announced is not None and announced.strip('"') != info.etag:
        return []  # other bytes are there now: their own announcement records them
    if (
        decided is not None
        and decided.status is not None
        and not decided.deleted
        and decided.etag == info.etag
    ):
        return []  # decided already: these very bytes
    if pending is not None and pending.etag == info.etag:
        return []  # pending already
    return [
        Emit(
            c.UploadReceivedData(key=event.key, name=name, size=info.size, etag=info.etag),
            expect=(
                ViewExpectation(decided_key, decided.version if decided else 0),
                ViewExpectation(pending_at, pending.version if pending else 0),
            ),
        )
    ]


async def handle_enhancement_requested(event: c.EnhancementRequested, deps: Deps) -> Sequence[Output]:
    """An enhancement chunk: one request per photo and video, or the item skipped (``fanout.py``)."""
    return await fanout.chunk_items(event, deps.log, video_deployed=deps.video_deployed)


async def handle_enhancement_feedback_requested(
    event: c.EnhancementFeedbackRequested, deps: Deps
) -> Sequence[Output]:
    """A feedback sentence on an enhanced item: the pass requested from the item's service
    (``fanout.py``)."""
    return await fanout.feedback_pass(event, deps.log, video_deployed=deps.video_deployed)
