"""What every enhancement service (photos, videos) reads about one item before it works on it: whether the
item may start (its ``ENDED#`` claim; the job's cancel), the item's earlier feedback turns (a pass's context),
and the trip as the person described it. Read models only: the services stay apart (none imports another).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from shared.events import enhancement as en
from shared.events.codec import derived_event_id, make_event
from shared.events.envelope import AnyEvent, Payload
from shared.runtime.log import DuplicateEvent, EventLog
from shared.runtime.projections import ended_key, job_key, meta_key, session_pk
from shared.runtime.read_models import FeedbackTurnView, ItemEndClaim, JobView, MetaView
from shared.runtime.service import Output

log_ = logging.getLogger("shoebox.enhancement")

#: an earlier feedback turn: (the person's words, what the provider answered)
Turn = tuple[str, str]


class ItemRequest(Protocol):
    """What a photo's or a video's enhancement request says about its item (the two payloads' shared part)."""

    @property
    def job_id(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def revision(self) -> int | None: ...
    @property
    def feedback(self) -> str | None: ...


def failed_pass(d: ItemRequest, message: str) -> en.FeedbackCompletedData:
    """A feedback pass's answer when it could not be made: not ok, with why."""
    return en.FeedbackCompletedData(
        job_id=d.job_id, key=d.key, revision=d.revision or 0, ok=False, message=message
    )


async def given_up(
    log: EventLog, session_id: str, d: ItemRequest, why: str, failed: Payload
) -> Sequence[Output]:
    """What a request that failed on every delivery records (a service's ``on_give_up``): a feedback pass
    its ``feedback.completed`` not ok; a first pass the item's failure (``failed``), unless the item ended
    otherwise meanwhile (its one ending stands). So neither the job's saga nor a client waits for a message
    in the DLQ."""
    if d.feedback is not None:
        return [failed_pass(d, why)]
    if await item_ended(log, session_id, d.job_id, d.key):
        return []
    return [failed]


async def before_start(log: EventLog, session_id: str, job_id: str, key: str) -> Sequence[Output] | None:
    """None when the item may start; else what its handler records instead: nothing when it ended already
    (a redelivery, or a cancel that came first), ``enhancement.item.cancelled`` when its job was cancelled
    before it started (the ending's claim makes a race with the API's own item cancels safe)."""
    if await item_ended(log, session_id, job_id, key):
        return []
    job = await log.get_view(job_key(session_id, job_id), type=JobView)
    if job is not None and job.cancel_requested:
        return [en.ItemCancelledData(job_id=job_id, key=key)]
    return None


async def item_ended(log: EventLog, session_id: str, job_id: str, key: str) -> bool:
    """Whether the item's one ending (``ENDED#`` claim) is recorded already."""
    return await log.get_view(ended_key(session_id, job_id, key), type=ItemEndClaim) is not None


async def record_phase(log: EventLog, cause: AnyEvent, payload: Payload, *, source: str, count: int) -> None:
    """Commit an item's phase event (``payload``) the moment it happens, caused by the request ``cause``.
    Its id derives from the request and the phase's place (``count``), so a redelivery's repeated phases are
    refused as duplicates, never shown twice."""
    event = make_event(
        payload,
        source=source,
        session_id=cause.sessionid,
        event_id=derived_event_id(source.rsplit("/", 1)[-1], cause.source, cause.id, "phase", str(count)),
        correlation_id=cause.correlationid,
        causation_id=cause.id,
    )
    try:
        await log.commit([event], session=cause.sessionid)
    except DuplicateEvent:
        log_.info("phase %d of %s recorded already (a redelivery)", count, cause.id)


async def earlier_turns(
    log: EventLog, session_id: str, job_id: str, key: str, revision: int
) -> tuple[Turn, ...]:
    """The item's answered feedback turns before ``revision``, oldest first."""
    turns = await log.query_views(session_pk(session_id), f"FEEDBACK#{job_id}#{key}#", type=FeedbackTurnView)
    return tuple(
        (t.feedback, t.message)
        for t in sorted(turns, key=lambda t: t.revision)
        if 0 < t.revision < revision and t.feedback is not None and t.status == "done"
    )


async def trip_of(log: EventLog, session_id: str) -> str:
    """The trip as the person described it (the session's context; empty when it has none)."""
    meta = await log.get_view(meta_key(session_id), type=MetaView)
    return meta.context if meta is not None else ""
