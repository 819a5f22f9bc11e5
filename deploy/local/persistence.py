"""What the embedded stack keeps across a restart, and what it does at start because of it
(docs/persistence.md).

The emulator keeps its state in ``<state folder>/emulator/`` (``deploy/local/moto_persistence.py``: items,
stream records, objects, messages; each resource is filled back as provisioning creates it). Around that,
a start of the stack:

1. ``prepare``, under the stack's lock and before the emulator starts: forgets the kept state when asked
   (``shoebox up --fresh``), and empties the stack's own temporary folder, where a killed run left its
   services' work folders;
2. provisioning, as always: the restored resources come back full;
3. ``restart_sagas``, once provisioned: Step Functions executions cannot be kept, so the saga of every job
   that had not ended is started again under its name, and reads where its job stands.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.runtime.aws import Clients

log = logging.getLogger("shoebox.stack.persistence")

#: the emulator's state, under the stack's state folder
EMULATOR_DIR = "emulator"


def emulator_dir(state_dir: Path) -> Path:
    """Where the emulator of the stack whose state folder is ``state_dir`` keeps its state."""
    return state_dir / EMULATOR_DIR


def prepare(state_dir: Path, *, fresh: bool, own_tmp_dir: Path | None) -> Path:
    """Before the emulator starts (the caller holds the stack's lock, so no stack uses these folders):
    forget the kept state if ``fresh``, and empty ``own_tmp_dir``, the stack's own temporary folder (None
    when the configuration names a folder the stack does not own, which is left alone). Returns the
    emulator's state folder."""
    kept = emulator_dir(state_dir)
    if fresh and kept.exists():
        shutil.rmtree(kept)
        log.info("forgot the state kept in %s (fresh start)", kept)
    if own_tmp_dir is not None:
        removed = clean_tmp(own_tmp_dir)
        if removed:
            log.info("removed %d work folders a previous run left in %s", removed, own_tmp_dir)
    return kept


def clean_tmp(tmp_dir: Path) -> int:
    """Remove everything in ``tmp_dir`` (it stays); returns how many entries there were."""
    if not tmp_dir.is_dir():
        return 0
    removed = 0
    for entry in tmp_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


async def restart_sagas(clients: Clients) -> list[str]:
    """Start the sagas of the jobs that had not ended again (after provisioning); returns the
    executions' names."""
    from services.api.restarts import restart_running_sagas  # the api owns its sagas (and litestar)
    from services.api.wiring import on_aws

    on = on_aws(clients)
    started = await restart_running_sagas(on.log, on.sagas, on.commands, clients.settings)
    if started:
        log.info("restarted %d sagas that were running: %s", len(started), ", ".join(started))
    return started
