"""Start again the saga of every job that has not ended: for a Step Functions that lost its executions (the
embedded emulator after a restart: ``deploy/local/persistence.py``). One pass over the sessions (one scan of
the log's heads) and one query of each session's ``JOB#`` items, whatever the kinds of job: each saga reads
where its job stands from the read models, and a command it sends again has the id it had, so the api's
consumer takes it once. Executions keep their names (the job's and the attempt's)."""

from __future__ import annotations

from services.api.enhancement import start_enhancement_saga
from services.api.selection import start_selection_saga
from services.api.triage import start_triage_saga
from shared.runtime.config import Settings
from shared.runtime.log import EventLog
from shared.runtime.projections import session_pk
from shared.runtime.read_models import JobView
from shared.runtime.sagas import CommandQueue, SagaStarter

#: what a job's status is once its saga has nothing left to do
ENDED = {
    "triage": ("complete", "error"),
    "selection": ("complete", "error"),
    "enhancement": ("done", "partial", "failed", "cancelled"),
}


async def restart_running_sagas(
    log_: EventLog, sagas: SagaStarter, commands: CommandQueue, settings: Settings
) -> list[str]:
    """Start the saga of every triage, selection and enhancement that has not ended, under the name it
    had; returns the executions' names."""
    started: list[str] = []
    for session_id in await log_.session_ids():
        for job in await log_.query_views(session_pk(session_id), "JOB#", type=JobView):
            if job.kind is None or job.status in ENDED[job.kind]:
                continue
            job_id = job.sk.removeprefix("JOB#")
            if job.kind == "triage":
                name = await start_triage_saga(sagas, commands, settings, session_id, job_id, job.attempt)
            elif job.kind == "selection" and job.triage_job_id:
                name = await start_selection_saga(sagas, commands, settings, session_id, job, job_id)
            elif job.kind == "enhancement":
                name = await start_enhancement_saga(sagas, commands, settings, session_id, job_id)
            else:
                continue
            started.append(name)
    return started
