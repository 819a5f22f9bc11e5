"""What changed in a session after a version: the API's delta polls (``?after_version=N``).

Commits to a session land in sequence order (``shared/runtime/log.py``) and ``COUNTERS.version`` is the
sequence of its last event, so what changed after version N is exactly what the events after N wrote. Those
events are read by key (sequences N+1 to the current version), and only the items they name are read again
(BatchGetItems; the pending count is ``COUNTERS.pending``): no Query, which on the emulator walks the whole
table. A poll of a 1,000-file session in which two files changed reads two events and two files, not the
session. A client far behind is answered with the whole session instead (more than ``MAX_DELTA_EVENTS``
events or ``MAX_DELTA_KEYS`` files changed): reading every change one by one would cost more than one Query.
"""

from __future__ import annotations

from services.api.access import SNAPSHOT_TRIES, Snapshot, snapshot
from shared.runtime import projections
from shared.runtime.log import EventLog
from shared.runtime.projections import file_key, pending_key
from shared.runtime.read_models import CountersView, FileView, JobView, PendingView
from shared.runtime.views import ViewKey

#: past this many events (or changed files) since the client's version, the answer is the whole session
MAX_DELTA_EVENTS = 1000
MAX_DELTA_KEYS = 200
_FILE_PREFIXES = ("FILE#", "PENDING#")


async def changes(
    log: EventLog,
    session_id: str,
    after: int,
    *,
    counters: CountersView | None = None,
    job: ViewKey | None = None,
) -> Snapshot:
    """The session's files that changed after version ``after`` (and the ``job`` item), as of one version,
    as ``access.snapshot`` reads the whole session (the counters are read again after the items; if they
    moved, the read is made again). A Snapshot of the whole session when ``after`` is too far behind, or
    ahead of the session (a client of a rebuilt session's read models)."""
    before = counters if counters is not None else await log.counters(session_id)
    if after > before.version:
        return await snapshot(log, session_id, counters=before, job=job)
    for attempt in range(1, SNAPSHOT_TRIES + 1):
        touched = await _touched(log, session_id, after, before.version, job)
        if touched is None:
            return await snapshot(log, session_id, counters=before, job=job)
        keys, job_changed = touched
        files, pending = await _read(log, session_id, keys)
        found = await log.get_view(job, type=JobView) if job is not None else None
        now = await log.counters(session_id)
        if now.version == before.version or attempt == SNAPSHOT_TRIES:
            # every change up to ``before`` is read (perhaps later ones too): the version to answer with
            return Snapshot(
                counters=before,
                files=files,
                pending=pending,
                job=found,
                after=after,
                touched=frozenset(keys),
                job_changed=job_changed,
            )
        before = now
    raise AssertionError("unreachable")


async def _touched(
    log: EventLog, session_id: str, after: int, upto: int, job: ViewKey | None
) -> tuple[set[str], bool] | None:
    """The upload keys whose items the events after ``after`` (up to ``upto``) wrote, and whether they wrote
    ``job``; None when there are too many to read one by one."""
    if upto - after > MAX_DELTA_EVENTS:
        return None
    keys: set[str] = set()
    job_changed = False
    for event in await log.read_between(session_id, after, upto):
        for update in projections.view_updates(event):
            sk = update.key.sk
            for prefix in _FILE_PREFIXES:
                if sk.startswith(prefix):
                    keys.add(sk.removeprefix(prefix))
            job_changed = job_changed or update.key == job
    return (keys, job_changed) if len(keys) <= MAX_DELTA_KEYS else None


async def _read(log: EventLog, session_id: str, keys: set[str]) -> tuple[list[FileView], list[PendingView]]:
    """The ``FILE#`` and ``PENDING#`` items of ``keys`` (those that exist): batched reads, 100 items a call
    in one BatchGetItem for up to 50 changed files (one GetItem per item cost 2 requests a changed file: 400
    for a poll during the upload burst)."""
    ordered = sorted(keys)
    wanted = [file_key(session_id, k) for k in ordered] + [pending_key(session_id, k) for k in ordered]
    found = await log.get_views(wanted)
    files = sorted((v for v in found if isinstance(v, FileView)), key=lambda f: f.sk)
    pending = sorted((v for v in found if isinstance(v, PendingView)), key=lambda p: p.sk)
    return files, pending
