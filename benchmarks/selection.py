"""The offline selection of a 1,000-item session against the time to load its input (the floor).

A synthetic session: ``--selection-files`` processed photos (default 1,000) in bursts of 1-5 near-duplicates
(perceptual hashes a few bits apart, a second apart), spread over days, scenes hours and kilometres apart,
every photo with capture time, GPS, size and signals; a completed triage (its results file) that discarded
every 20th. Timed, each ``--selection-samples`` times:

- **floor: load the input**: what the selection handler reads before it decides (``selection_handler.load``:
  the ``FILE#`` read models, the session's log, the triage results file), nothing else;
- **the offline selection**: ``handle_selection_requested`` whole, count 12 and "all" (the same load,
  the provider, the exactly-once check and repair, the results file written); and the provider alone.

On the in-memory log and store (the target's place: selection ≤ 2x the floor), then the same pair on the
embedded emulator (the stack's DynamoDB and S3, no product service running), beside it. Peak memory is
Python's (``tracemalloc``) over one whole selection, and over one load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from rich.table import Table

from benchmarks._common import summary_ms
from deploy.local.emulator import free_port
from deploy.local.stack import StackConfig, running_stack
from services.selection import handlers, results
from services.selection.offline_selection import OfflineSelection
from services.selection.selection_handler import Deps, load
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.log import EventLog, InMemoryEventLog
from shared.runtime.storage import InMemoryObjectStore, ObjectStore, S3ObjectStore

#: the target (printed, never asserted): the whole selection within twice the time to load its input
TARGET_RATIO = 2.0
COUNT = 12


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--selection-files", type=int, default=1000, help="items in the session (1000)")
    group.add_argument("--selection-samples", type=int, default=10, help="runs timed per figure (10)")


def _session(sid: str, files: int) -> tuple[list[Any], list[c.Verdict]]:
    """The session's events (``file.processed``) and a triage's verdicts, deterministic."""
    rng = random.Random(13)
    events: list[Any] = []
    verdicts: list[c.Verdict] = []
    t = dt.datetime(2024, 5, 1, 9, 0)
    lat, lon = 35.0, 135.7
    i = 0
    while i < files:
        if rng.random() < 0.08:  # a new scene: hours later, kilometres away
            t += dt.timedelta(hours=rng.uniform(2.5, 14))
            lat, lon = lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.3, 0.3)
        t += dt.timedelta(minutes=rng.uniform(1, 12))
        base = rng.getrandbits(64)
        for j in range(min(rng.randint(1, 5), files - i)):
            phash = base ^ (rng.getrandbits(64) & rng.getrandbits(64) & rng.getrandbits(64) & 0xFF00FF)
            name = f"IMG_{i:05d}.jpg"
            key = f"uploads/{sid}/{name}"
            ref = c.FileRef(bucket="b", key=key, name=name, size=3_000_000, etag=f"e{i}")
            data = c.FileProcessedData(
                file=ref,
                kind="photo",
                media_type="image/jpeg",
                sha256=f"{i:064x}",
                metadata=c.MediaMetadata(
                    captured_at=t + dt.timedelta(seconds=j),
                    gps=c.GeoPoint(lat=lat + rng.uniform(-1e-3, 1e-3), lon=lon + rng.uniform(-1e-3, 1e-3)),
                    width=4032,
                    height=3024,
                    make="Apple",
                    model="iPhone 13 Pro",
                ),
                keys=c.DerivedKeys(thumbnail=f"thumbnails/{sid}/{name}.jpg"),
                photo=c.PhotoSignals(
                    sharpness=rng.lognormvariate(-2.5, 1.0),
                    exposure_mean=rng.uniform(0.15, 0.8),
                    shadows_clipped=rng.uniform(0, 0.05),
                    highlights_clipped=rng.uniform(0, 0.05),
                    colour_cast=rng.uniform(0, 20),
                    phash=f"{phash:016x}",
                ),
            )
            events.append(make_event(data, source="shoebox/bench", session_id=sid))
            discard = i % 20 == 19
            verdicts.append(
                c.Verdict(
                    key=key,
                    verdict="discard" if discard else "keep",
                    reason="Blurred." if discard else "Fine.",
                    confidence=0.8,
                )
            )
            i += 1
    return events, verdicts


async def _fill(log: EventLog, store: ObjectStore, sid: str, files: int) -> float:
    started = time.perf_counter()
    events, verdicts = _session(sid, files)
    await log.commit(
        [
            make_event(
                c.SessionCreatedV2Data(owner="bench", trip=c.Trip(context="bench")),
                source="shoebox/bench",
                session_id=sid,
            )
        ]
    )
    batch = 15  # 2 items per event + 3 view updates each: under 100 transaction items
    for start in range(0, len(events), batch):
        await log.commit(events[start : start + batch])
    out = results.TriageResults(job_id="t1", attempt=1, provider="offline", verdicts=verdicts)
    key = results.results_key(sid, "t1", 1)
    await store.put(key, results.encode(out), results.CONTENT_TYPE)
    keep = sum(v.verdict == "keep" for v in verdicts)
    done = c.TriageCompletedData(
        job_id="t1", attempt=1, keep=keep, discard=len(verdicts) - keep, results_key=key, provider="offline"
    )
    await log.commit([make_event(done, source="shoebox/selection", session_id=sid)])
    return time.perf_counter() - started


async def _times(fn: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    await fn()  # warm
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def _peak_mb(fn: Callable[[], Awaitable[object]]) -> float:
    tracemalloc.start()
    try:
        await fn()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


async def _measure(log: EventLog, store: ObjectStore, sid: str, samples: int) -> dict[str, Any]:
    deps = Deps(store=store, log=log, provider=OfflineSelection())
    attempts = iter(range(1, 1_000_000))

    def select(count: int | None) -> Callable[[], Awaitable[object]]:
        async def once() -> None:
            data = c.SelectionRequestedData(
                job_id="sel", context="bench", count=count, attempt=next(attempts)
            )
            event = make_event(data, source="shoebox/bench", session_id=sid)
            assert isinstance(event, c.SelectionRequested)
            [out] = await handlers.handle_selection_requested(event, deps)
            assert isinstance(out, c.SelectionCompletedData), out

        return once

    manifest = await load(store, log, sid)
    candidates = [i for i in manifest.items if i.triage is None or i.triage.verdict != "discard"]

    async def provider_only() -> None:
        OfflineSelection().decide(candidates, count=COUNT)

    async def floor() -> None:
        await load(store, log, sid)

    load_ms = summary_ms(await _times(floor, samples))
    select_ms = summary_ms(await _times(select(COUNT), samples))
    all_ms = summary_ms(await _times(select(None), samples))
    provider_ms = summary_ms(await _times(provider_only, samples))
    ratio = float(select_ms["p50"]) / float(load_ms["p50"])
    return {
        "items": len(manifest.items),
        "candidates": len(candidates),
        "load_ms": load_ms,
        f"select_{COUNT}_ms": select_ms,
        "select_all_ms": all_ms,
        "provider_only_ms": provider_ms,
        "ratio_p50": round(ratio, 2),
        "verdict": "PASS" if ratio <= TARGET_RATIO else "MISS",
        "peak_mb_select": await _peak_mb(select(COUNT)),
        "peak_mb_load": await _peak_mb(floor),
    }


async def _in_memory(files: int, samples: int) -> dict[str, Any]:
    log, store, sid = InMemoryEventLog(), InMemoryObjectStore(), "bench-selection"
    fill_s = await _fill(log, store, sid, files)
    return {"fill_s": round(fill_s, 2), **await _measure(log, store, sid, samples)}


async def _emulator(files: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        config = StackConfig(
            emulator_port=free_port(),
            api_port=free_port(),
            prefix="selbench",
            state_dir=state,
            services=(),
            run_api=False,
            run_relay=False,
            persist=False,
        )
        async with running_stack(config) as stack:
            store = S3ObjectStore(stack.clients.s3, stack.clients.settings.names.media_bucket)
            sid = "bench-selection"
            fill_s = await _fill(stack.log, store, sid, files)
            return {"fill_s": round(fill_s, 1), **await _measure(stack.log, store, sid, samples)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    files = 200 if args.quick else args.selection_files
    samples = 3 if args.quick else args.selection_samples

    async def measure() -> dict[str, Any]:
        return {
            "files": files,
            "count": COUNT,
            "in_memory": await _in_memory(files, samples),
            "emulator": await _emulator(files, max(3, samples // 3)),
        }

    return anyio.run(measure)


def tables(result: dict[str, Any]) -> list[Table]:
    table = Table(
        title=f"offline selection of {result['files']} items (count {result['count']} and all), ms; "
        f"target: selection p50 ≤ {TARGET_RATIO:g}x the load on the in-memory log"
    )
    for col in ("figure", "place", "p50", "p90", "min", "n"):
        table.add_column(col, justify="left" if col in ("figure", "place") else "right")
    for place in ("in_memory", "emulator"):
        r = result[place]
        for label, key in (
            ("floor: load the input", "load_ms"),
            (
                f"selection, count {result['count']} (load + decide + check + write)",
                f"select_{result['count']}_ms",
            ),
            ("selection, all", "select_all_ms"),
            ("the provider alone", "provider_only_ms"),
        ):
            s = r[key]
            table.add_row(label, place, *(str(s[k]) for k in ("p50", "p90", "min", "n")))
    mem, emu = result["in_memory"], result["emulator"]
    table.caption = (
        f"ratio p50 {mem['ratio_p50']}x in memory: {mem['verdict']} (emulator {emu['ratio_p50']}x); "
        f"peak Python memory: selection {mem['peak_mb_select']} MiB, load {mem['peak_mb_load']} MiB; "
        f"{mem['candidates']} candidates of {mem['items']} items"
    )
    return [table]
