"""``shoebox rebuild-views``: fold sessions' read models again from their event logs, straight on the
tables (no API: an operator's command, run after a change to a read model's shape).

Where the tables are: the running ``shoebox up``'s emulator (its ``stack.json`` in ``--state-dir``), else
(or with ``--env``) the account and prefix the environment's ``SHOEBOX_*`` settings name, as every service
reads them. A rebuild replaces each item whole, so readers never see one missing; events that land while a
session is rebuilt make it run again (``EventLog.rebuild_views``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.log import DynamoEventLog, EventLog, LogError
from shared.runtime.read_models import ViewShapeError


class RebuildError(Exception):
    """The rebuild could not run, or some sessions failed; one line for the person."""


class Rebuilt(msgspec.Struct, frozen=True):
    session_id: str
    #: events folded; None when the session failed
    events: int | None
    error: str | None = None


def log_settings(state_dir: Path, *, from_env: bool = False) -> Settings:
    """The settings naming the tables, read from the environment once: pointed at the local stack's
    emulator and prefix (its ``stack.json``) unless ``from_env`` or no stack runs there."""
    settings = Settings.from_env()
    if not from_env:
        from deploy.local import credentials
        from deploy.local.stack import read_info

        info = read_info(state_dir)
        keys = credentials.load(state_dir)
        if info is not None and keys is not None:
            # the stack's own services use these (StackConfig.settings): its endpoint and prefix, and
            # its credentials (the only ones its emulator accepts)
            aws = msgspec.structs.replace(settings.aws, endpoint=info.aws_endpoint, prefix=info.prefix)
            return keys.applied_to(msgspec.structs.replace(settings, aws=aws))
    return settings


async def rebuild(
    log: EventLog, session_ids: Sequence[str] | None, *, progress: Callable[[Rebuilt], None] = lambda r: None
) -> list[Rebuilt]:
    """Rebuild the read models of ``session_ids`` (None: every session in the log, all pages), one
    session after another. A session that fails is reported and the others still run; a named session
    with no events is refused before anything is written."""
    if session_ids is None:
        session_ids = await log.session_ids()
    else:
        unknown = [s for s in session_ids if not (await log.read(s, limit=1)).events]
        if unknown:
            raise RebuildError(f"no events in the log for session(s) {', '.join(unknown)}")
    out = []
    for sid in session_ids:
        try:
            result = Rebuilt(sid, await log.rebuild_views(sid))
        except (LogError, ViewShapeError) as exc:
            result = Rebuilt(sid, None, str(exc))
        progress(result)
        out.append(result)
    return out


def _line(r: Rebuilt) -> str:
    if r.error is not None:
        return f"{r.session_id}: FAILED: {r.error}"
    return f"{r.session_id}: {r.events} events folded"


async def run(
    settings: Settings, session_ids: Sequence[str] | None, *, out: TextIO | None = None
) -> list[Rebuilt]:
    """``rebuild`` on the tables ``settings`` name, a line per session on ``out`` (None: the current
    ``sys.stdout``, looked up when printing); ``RebuildError`` when the tables cannot be reached or a
    session failed."""
    where = settings.aws.endpoint or "AWS"
    try:
        async with Clients(settings) as clients:
            log = DynamoEventLog.of(clients)
            results = await rebuild(
                log, session_ids, progress=lambda r: print(_line(r), file=out, flush=True)
            )
    except (BotoCoreError, ClientError) as exc:
        raise RebuildError(
            f"cannot use the tables of prefix {settings.aws.prefix!r} at {where}: {exc}"
        ) from None
    failed = [r.session_id for r in results if r.error is not None]
    print(
        f"{len(results) - len(failed)} of {len(results)} sessions rebuilt "
        f"({where}, prefix {settings.aws.prefix!r})",
        file=out,
    )
    if failed:
        raise RebuildError(f"{len(failed)} session(s) not rebuilt: {', '.join(failed)}")
    return results
