"""The embedded stack's kept state (docs/persistence.md): its cost per file, a restart of a kept stack, and
the emulator's memory with object bodies in files.

On a bare emulator provisioned from the topology (the stack's own resources), with the product's clients:

- **per file**: the writes one uploaded photo costs, in sequence: the upload (``PutObject``), the decision
  (``EventLog.commit`` of a ``media.file.processed``: the sequence reservation, then one transaction of the
  event, its id guard, the tracking record and the read models), one message through a queue (send,
  receive, delete). Timed on a memory-only emulator and on one that keeps its state, in alternating
  rounds, so both see the same background load;
- **restart**: the kept emulator's folder (what the per-file rounds and the memory uploads left) plus
  ``--persist-files`` more files, the emulator killed (SIGKILL) and started again on it; timed from
  spawning it until provisioning has filled every resource back, against the same on an empty folder,
  and the restore alone (what the emulator logs it took to fill each resource back); the state folder's
  size; the restored emulator's RSS;
- **memory**: each emulator's RSS before and after ``--persist-upload-mb`` more of 2 MiB objects,
  memory-only (moto keeps a body under ``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``, ~5 MiB, in memory) and kept
  (bodies in files).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from rich.table import Table

from benchmarks._common import summary_ms
from deploy.local.emulator import Emulator, free_port
from deploy.local.emulator_store import Store
from deploy.local.provision import provision
from deploy.local.stack import StackConfig
from deploy.topology import TOPOLOGY
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog

#: targets (printed, never asserted): a kept stack costs little per file, and restarts in seconds
TARGET_OVERHEAD = 1.25
TARGET_RESTORE_S = 10.0
MIB = 1024 * 1024


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--persist-rounds", type=int, default=4, help="alternating rounds per placement (4)")
    group.add_argument("--persist-round-files", type=int, default=40, help="files per round (default 40)")
    group.add_argument("--persist-files", type=int, default=1000, help="files kept for the restart (1000)")
    group.add_argument("--persist-object-kb", type=int, default=256, help="each file's upload, KiB (256)")
    group.add_argument("--persist-upload-mb", type=int, default=500, help="MiB uploaded for memory (500)")


def _rss_mb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1]) // 1024
    return out


def _processed(sid: str, i: int, etag: str) -> Any:
    name = f"IMG_{i:04d}.jpg"
    ref = c.FileRef(bucket="b", key=f"uploads/{sid}/{name}", name=name, size=3_000_000, etag=etag)
    data = c.FileProcessedData(
        file=ref,
        kind="photo",
        media_type="image/jpeg",
        sha256=f"{i:064x}",
        metadata=c.MediaMetadata(width=4032, height=3024, make="Apple", model="iPhone 13 Pro"),
        keys=c.DerivedKeys(thumbnail=f"thumbnails/{sid}/{name}.jpg"),
        photo=c.PhotoSignals(
            sharpness=0.1,
            exposure_mean=0.5,
            shadows_clipped=0.0,
            highlights_clipped=0.0,
            colour_cast=1.0,
            phash=f"{i:016x}",
        ),
    )
    return make_event(data, source="shoebox/bench", session_id=sid)


class _Emulator:
    """A bare emulator provisioned from the topology, memory-only or keeping its state in ``state``."""

    def __init__(self, state: Path | None, log: Path) -> None:
        self.config = StackConfig(emulator_port=free_port(), prefix="persist", state_dir=str(log.parent))
        self.emulator = Emulator(
            self.config.emulator_port, log_path=str(log), state_dir=str(state) if state else None
        )

    async def __aenter__(self) -> tuple[Emulator, Clients, dict[str, str]]:
        self.emulator.spawn()
        await anyio.to_thread.run_sync(self.emulator.ready)
        settings = self.emulator.credentials.applied_to(self.config.settings)  # the only ones it accepts
        self.clients = await Clients(settings).__aenter__()
        resources = await provision(self.clients, TOPOLOGY)
        return self.emulator, self.clients, resources

    async def __aexit__(self, *exc: object) -> None:
        await self.clients.__aexit__(*exc)
        await anyio.to_thread.run_sync(self.emulator.stop)


def _file_writes(clients: Clients, queue: str, body: bytes, sid: str) -> Callable[[int], Awaitable[None]]:
    log = DynamoEventLog.of(clients)
    bucket = clients.settings.names.media_bucket

    async def one(i: int) -> None:
        r = await clients.s3.put_object(Bucket=bucket, Key=f"uploads/{sid}/IMG_{i:04d}.jpg", Body=body)
        await log.commit([_processed(sid, i, r["ETag"].strip('"'))])
        await clients.sqs.send_message(QueueUrl=queue, MessageBody=f'{{"file": {i}}}')
        got = await clients.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            await clients.sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

    return one


async def _per_file_and_memory(
    work: Path, rounds: int, files: int, body: bytes, upload_mb: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both emulators up side by side (idle when not used), rounds alternating between them; then the
    same uploads to each, for their memory."""
    per_file: dict[str, list[float]] = {"memory": [], "kept": []}
    memory: dict[str, Any] = {"uploaded_mb": upload_mb}
    async with (
        _Emulator(None, work / "memory.log") as (mem_emulator, mem_clients, mem_resources),
        _Emulator(work / "kept", work / "kept.log") as (kept_emulator, kept_clients, kept_resources),
    ):
        placements = {
            "memory": (mem_emulator, mem_clients, mem_resources),
            "kept": (kept_emulator, kept_clients, kept_resources),
        }
        writes = {
            name: _file_writes(clients, resources[clients.settings.names.queue("selection")], body, name)
            for name, (_, clients, resources) in placements.items()
        }
        for one in writes.values():
            await one(-1)  # warm-up: connections, first-call costs
        for r in range(rounds):
            for name in ("memory", "kept") if r % 2 == 0 else ("kept", "memory"):
                for i in range(r * files, (r + 1) * files):
                    t = time.perf_counter()
                    await writes[name](i)
                    per_file[name].append(time.perf_counter() - t)
        chunk = os.urandom(2 * MIB)
        for name, (emulator, clients, _) in placements.items():
            before = _rss_mb(emulator.pid or 0)["VmRSS"]
            for i in range(upload_mb // 2):
                key = f"memory/{i}"
                await clients.s3.put_object(
                    Bucket=clients.settings.names.media_bucket, Key=key, Body=chunk[:-8] + i.to_bytes(8)
                )
            memory[name] = {"before_rss_mb": before, **_rss_mb(emulator.pid or 0)}
    mem, kept = summary_ms(per_file["memory"]), summary_ms(per_file["kept"])
    ratio = float(kept["p50"]) / float(mem["p50"])
    return {
        "memory_ms": mem,
        "kept_ms": kept,
        "ratio_p50": round(ratio, 3),
        "verdict": "PASS" if ratio <= TARGET_OVERHEAD else "MISS",
    }, memory


async def _restart(work: Path, files: int, body: bytes) -> dict[str, Any]:
    """Fill the kept emulator's folder up to ``files`` files, kill it, start it again."""
    state, log = work / "kept", work / "restart.log"
    async with _Emulator(state, log) as (emulator, clients, resources):
        queue = resources[clients.settings.names.queue("selection")]
        one = _file_writes(clients, queue, body, "restart")
        filled = time.perf_counter()
        limit = anyio.Semaphore(8)  # the fill is not what is measured: as fast as the emulator goes

        async def fill(i: int) -> None:
            async with limit:
                await one(i)

        async with anyio.create_task_group() as tg:
            for i in range(files):
                tg.start_soon(fill, i)
        fill_s = time.perf_counter() - filled
        os.kill(emulator.pid or 0, signal.SIGKILL)

    async def start(folder: Path) -> tuple[float, dict[str, int]]:
        t = time.perf_counter()
        async with _Emulator(folder, log) as (emulator, _, _):
            took = time.perf_counter() - t
            rss = _rss_mb(emulator.pid or 0)
        return took, rss

    empty_s, _ = await start(work / "empty")
    mark = (await anyio.Path(log).stat()).st_size
    kept_s, rss = await start(state)
    # the emulator logs each resource it fills back, with the time it took
    logged = (await anyio.Path(log).read_bytes())[mark:]
    restored_ms = sum(float(m) for m in re.findall(rb"restored .* in ([0-9.]+) ms", logged))
    store = Store(state)
    sizes = store.sizes()
    store.close()
    restore_s = restored_ms / 1000
    return {
        "files": files,
        "fill_s": round(fill_s, 1),
        "start_empty_s": round(empty_s, 2),
        "start_kept_s": round(kept_s, 2),
        "restore_s": round(restore_s, 2),
        "kept": sizes,
        "disk_mb": round(sizes["bytes"] / MIB, 1),
        "rss_after_restore_mb": rss,
        "verdict": "PASS" if restore_s <= TARGET_RESTORE_S else "MISS",
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    rounds = 2 if quick else args.persist_rounds
    round_files = 10 if quick else args.persist_round_files
    files = 100 if quick else args.persist_files
    upload_mb = 100 if quick else args.persist_upload_mb
    body = os.urandom(args.persist_object_kb * 1024)

    async def measure() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="shoebox-bench-persist-") as tmp:
            work = Path(tmp)
            per_file, memory = await _per_file_and_memory(work, rounds, round_files, body, upload_mb)
            return {
                "config": {"rounds": rounds, "round_files": round_files, "object_kb": args.persist_object_kb},
                "per_file": per_file,
                "restart": await _restart(work, files, body),
                "memory": memory,
            }

    return anyio.run(measure)


def tables(result: dict[str, Any]) -> list[Table]:
    per = Table(
        title=f"per file (upload + decision + one message), ms; target: kept p50 ≤ {TARGET_OVERHEAD}x"
    )
    for col in ("emulator", "p50", "p90", "p99", "n"):
        per.add_column(col, justify="left" if col == "emulator" else "right")
    for placement in ("memory", "kept"):
        s = result["per_file"][f"{placement}_ms"]
        per.add_row(placement, *(str(s[k]) for k in ("p50", "p90", "p99", "n")))
    per.caption = f"ratio p50 {result['per_file']['ratio_p50']}x: {result['per_file']['verdict']}"

    r = result["restart"]
    restart = Table(
        title=f"restart of a kept emulator, {r['files']} files (target: restore ≤ {TARGET_RESTORE_S:g} s)"
    )
    restart.add_column("figure")
    restart.add_column("value", justify="right")
    for label, value in (
        ("start + provision, empty folder (s)", r["start_empty_s"]),
        ("start + provision + restore (s)", r["start_kept_s"]),
        ("restore, in the emulator (s)", f"{r['restore_s']} {r['verdict']}"),
        (
            "kept: items / stream records / objects / messages",
            "{items} / {stream} / {objects} / {messages}".format(**r["kept"]),
        ),
        ("state folder (MiB)", r["disk_mb"]),
        ("emulator RSS after the restore (MiB)", r["rss_after_restore_mb"]["VmRSS"]),
    ):
        restart.add_row(label, str(value))

    m = result["memory"]
    memory = Table(title=f"emulator memory after {m['uploaded_mb']} MiB of 2 MiB objects")
    for col in ("emulator", "RSS before MiB", "RSS after MiB", "peak MiB"):
        memory.add_column(col, justify="left" if col == "emulator" else "right")
    for placement in ("memory", "kept"):
        p = m[placement]
        memory.add_row(placement, str(p["before_rss_mb"]), str(p["VmRSS"]), str(p["VmHWM"]))
    return [per, restart, memory]
