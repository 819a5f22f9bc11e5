"""The api's handlers for its sagas' commands: what a saga decided becomes events in the session's log.

The saga (``deploy/sagas/triage.asl.json``) only reads read models and sends commands; recording
``shoebox.triage.requested`` here keeps every request in the log and sends it out through the relay.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from shared.events import catalogue as c
from shared.runtime.inbound import UPLOADS, SagaCommand
from shared.runtime.log import EventLog
from shared.runtime.projections import session_pk
from shared.runtime.read_models import CountersView, FileView
from shared.runtime.service import Output
from shared.runtime.storage import ObjectStore

#: at most this many gap names ride in the event (it must stay small); gaps_count has them all
MAX_GAPS = 100


class Deps(msgspec.Struct, frozen=True):
    log: EventLog
    store: ObjectStore


async def _gaps(cmd: SagaCommand, deps: Deps, counters: CountersView) -> list[str]:
    """Files the triage will not judge: uploads that failed on the client (named at finalize), files
    media_process rejected, and objects that arrived but were never decided."""
    sid = cmd.detail.session_id
    gaps = list(counters.upload_failed)
    files = {f.key: f for f in await deps.log.query_views(session_pk(sid), "FILE#", type=FileView)}
    gaps += sorted(k if f.name is None else f.name for k, f in files.items() if f.status == "rejected")
    async for obj in deps.store.list(f"{UPLOADS}/{sid}/"):
        if obj.key not in files:
            gaps.append(obj.key.rsplit("/", 1)[-1])
    return gaps


async def handle_saga_command(cmd: SagaCommand, deps: Deps) -> Sequence[Output]:
    d = cmd.detail
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
