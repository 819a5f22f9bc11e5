"""The api's handlers for its sagas' commands: what a saga decided becomes events in the session's log.

The saga (``deploy/sagas/triage.asl.json``) only reads read models and sends commands; recording
``shoebox.triage.requested`` here keeps every request in the log and sends it out through the relay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from shared.events import catalogue as c
from shared.runtime.inbound import UPLOADS, SagaCommand
from shared.runtime.log import EventLog
from shared.runtime.projections import counters_key, session_pk
from shared.runtime.service import Output
from shared.runtime.storage import ObjectStore
from shared.runtime.views import as_int

#: at most this many gap names ride in the event (it must stay small); gaps_count has them all
MAX_GAPS = 100


class Deps(msgspec.Struct, frozen=True):
    log: EventLog
    store: ObjectStore


async def _gaps(cmd: SagaCommand, deps: Deps, counters: Mapping[str, object]) -> list[str]:
    """Files the triage will not judge: uploads that failed on the client (named at finalize), files
    media_process rejected, and objects that arrived but were never decided."""
    sid = cmd.detail.session_id
    failed = counters.get("upload_failed")
    gaps = [str(n) for n in failed] if isinstance(failed, list) else []
    files = {
        str(i["sk"]).removeprefix("FILE#"): i for i in await deps.log.query_views(session_pk(sid), "FILE#")
    }
    gaps += sorted(str(i.get("name", k)) for k, i in files.items() if i.get("status") == "rejected")
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
    counters = await deps.log.get_view(counters_key(d.session_id)) or {}
    gaps = await _gaps(cmd, deps, counters)
    return [
        c.TriageRequestedData(
            job_id=d.job_id,
            attempt=d.attempt,
            expected=as_int(counters.get("expected")),
            processed=as_int(counters.get("processed")),
            rejected=as_int(counters.get("rejected")),
            duplicate=as_int(counters.get("duplicate")),
            gaps=gaps[:MAX_GAPS],
            gaps_count=len(gaps),
            timed_out=d.timed_out,
        )
    ]
