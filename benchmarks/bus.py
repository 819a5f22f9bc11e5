"""Event bus latency and throughput on the embedded stack, against the bare SQS round trip (the floor).

Two consumers are declared here, like any service (``Consumer`` + ``Service``), and run by the stack's own
``Worker``s next to the stack's relay:

- ``ping`` handles ``shoebox.triage.expected.changed`` (A) and emits one ``shoebox.upload.finalized`` (B);
- ``pong`` handles B and notes when its handler is called.

No product service consumes either family, and the stack runs no product worker (``services=()``).

Figures (all wall-clock in this one process, ``time.perf_counter``):

- **bus latency**: from the ping handler's append returning (``EventLog.commit`` returned, so B is durably in
  the log) to the pong handler being called with B. That is relay pickup (stream poll) + PutEvents + rule
  -> SQS + the pong worker's long poll waking + decode + its idempotency check. Also given from B's
  ``time`` field (stamped just before the commit, so it adds the append's own transaction).
- **bare SQS**: SendMessage -> a ReceiveMessage already long-polling the same emulator returns.
- **throughput**: A events committed straight to the log in batches, counted when pong has been called
  for their B: each counted event went log -> relay -> bus -> queue -> ping -> append -> relay -> bus ->
  queue -> pong, i.e. two appends, two publications, two deliveries and two handler calls.

The whole set runs twice: with the emulator as a subprocess (the stack's default) and in this process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
import msgspec
from rich.table import Table

from benchmarks._common import cpu_seconds, summary_ms
from deploy.local.emulator import free_port
from deploy.local.stack import Stack, StackConfig, running_stack
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event
from shared.runtime.log import DynamoEventLog, EventLog, Tracking
from shared.runtime.service import Output, Service
from shared.runtime.topology import Consumer
from shared.runtime.views import ViewExpectation, ViewUpdate
from shared.runtime.worker import Worker

if TYPE_CHECKING:
    from types_aiobotocore_events import EventBridgeClient
    from types_aiobotocore_sqs import SQSClient

TARGET_RATIO = 10.0  # issue 3, item 10: bus p50 within 10x the bare SQS round trip
PLACEMENTS = {"subprocess": False, "in_process": True}
A, B = c.TriageExpectedChanged, c.UploadFinalized
SOURCE = "shoebox/bench"
DEADLINE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


# ------------------------------------------------------------------------------------------- probes
class _Detail(msgspec.Struct):
    id: str
    causationid: str | None = None


class _BusBody(msgspec.Struct):
    detail: _Detail


class Probe:
    """Marks along the path, keyed by the id of the A event that started it (B's ``causationid``)."""

    def __init__(self) -> None:
        self.ping_called: dict[str, float] = {}
        self.b_committed: dict[str, float] = {}  # ping's commit of B returned
        self.b_time: dict[str, float] = {}  # B's ``time`` field, epoch seconds
        self.b_publish: dict[str, tuple[float, float]] = {}  # the relay's PutEvents holding B: start, end
        self.b_received: dict[str, float] = {}  # pong's ReceiveMessage returned with B
        self.pong_called: dict[str, float] = {}
        self.pong_called_wall: dict[str, float] = {}
        self.pongs = 0  # distinct A ids pong has been called for: len(pong_called), kept as a counter
        self.pong_duplicates = 0
        self._waiting: dict[str, anyio.Event] = {}
        self._progress = anyio.Event()

    def expect(self, a_id: str) -> anyio.Event:
        self._waiting[a_id] = ev = anyio.Event()
        return ev

    async def progress(self) -> None:
        """Wait until pong is called once more."""
        await self._progress.wait()

    def pong(self, b: Event[Any]) -> None:
        now, wall = time.perf_counter(), time.time()
        a_id = b.causationid or ""
        if a_id in self.pong_called:
            self.pong_duplicates += 1
            return
        self.pong_called[a_id] = now
        self.pong_called_wall[a_id] = wall
        self.pongs += 1
        if (ev := self._waiting.pop(a_id, None)) is not None:
            ev.set()
        self._progress.set()
        self._progress = anyio.Event()


class TimedLog(DynamoEventLog):
    """ping's event log: the same DynamoDB log, noting when a commit of B returns."""

    def __init__(self, inner: DynamoEventLog, probe: Probe) -> None:
        super().__init__(inner.client, events_table=inner.events_table, views_table=inner.views_table)
        self.probe = probe

    async def commit(
        self,
        events: Sequence[Event[Any]],
        *,
        tracking: Tracking | None = None,
        views: Sequence[ViewUpdate] = (),
        expect: Sequence[ViewExpectation] = (),
        session: str | None = None,
    ) -> list[Event[Any]]:
        committed = await super().commit(
            events, tracking=tracking, views=views, expect=expect, session=session
        )
        now = time.perf_counter()
        for e in committed:
            if isinstance(e, B) and e.causationid:
                self.probe.b_committed.setdefault(e.causationid, now)
                self.probe.b_time.setdefault(e.causationid, e.time.timestamp())
        return committed


class TimedEvents:
    """The relay's EventBridge client, noting when the PutEvents call carrying each B starts and ends."""

    def __init__(self, inner: EventBridgeClient, probe: Probe) -> None:
        self._inner = inner
        self.probe = probe

    async def put_events(self, **kw: Any) -> Any:
        started = time.perf_counter()
        r = await self._inner.put_events(**kw)
        ended = time.perf_counter()
        for entry in kw.get("Entries", []):
            if entry.get("DetailType") == B.family():
                d = msgspec.json.decode(entry["Detail"], type=_Detail)
                if d.causationid:
                    self.probe.b_publish.setdefault(d.causationid, (started, ended))
        return r

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TimedSQS:
    """pong worker's SQS client, noting when a ReceiveMessage returns with each B."""

    def __init__(self, inner: SQSClient, probe: Probe) -> None:
        self._inner = inner
        self.probe = probe

    async def receive_message(self, **kw: Any) -> Any:
        r = await self._inner.receive_message(**kw)
        now = time.perf_counter()
        for m in r.get("Messages", []):
            try:
                d = msgspec.json.decode(m.get("Body", ""), type=_BusBody).detail
            except msgspec.DecodeError:
                continue
            if d.causationid:
                self.probe.b_received.setdefault(d.causationid, now)
        return r

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# ---------------------------------------------------------------------------------------- consumers
def ping_service(probe: Probe, concurrency: int) -> Service:
    consumer = Consumer(
        service="ping", handles=(A,), handler_timeout_s=10, retry_base_s=0, concurrency=concurrency
    )

    async def handle_triage_expected_changed(event: c.TriageExpectedChanged) -> Sequence[Output]:
        probe.ping_called.setdefault(event.id, time.perf_counter())
        return [
            c.UploadFinalizedData(job_id=event.data.job_id, uploaded=event.data.expected, deadline=DEADLINE)
        ]

    return Service(consumer, {A: handle_triage_expected_changed})


def pong_service(probe: Probe, concurrency: int) -> Service:
    consumer = Consumer(
        service="pong", handles=(B,), handler_timeout_s=10, retry_base_s=0, concurrency=concurrency
    )

    async def handle_upload_finalized(event: c.UploadFinalized) -> Sequence[Output]:
        probe.pong(event)
        return []

    return Service(consumer, {B: handle_upload_finalized})


async def create_sessions(log: EventLog, *session_ids: str) -> None:
    """``session.created`` for each: a consumer's event for a session is applied only once it exists."""
    await log.commit(
        [
            make_event(
                c.SessionCreatedV2Data(owner="bench", trip=c.Trip(context="bus benchmark")),
                source="shoebox/api",
                session_id=sid,
            )
            for sid in session_ids
        ]
    )


def a_event(session_id: str, n: int) -> Event[Any]:
    return make_event(
        c.TriageExpectedChangedData(job_id="bench", expected=n + 1, previous=n),
        source=SOURCE,
        session_id=session_id,
    )


# ------------------------------------------------------------------------------------- measurements
async def _until(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll ``predicate``: the workers expose counters, not events."""
    with anyio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.002)


async def _receive_one(sqs: SQSClient, queue_url: str, wait_s: int, got: dict[str, Any]) -> None:
    while "messages" not in got:
        r = await sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=wait_s, MaxNumberOfMessages=1)
        if r.get("Messages"):
            got["at"], got["messages"] = time.perf_counter(), r["Messages"]


async def bare_sqs(sqs: SQSClient, queue_url: str, n: int, warmup: int, wait_s: int) -> list[float]:
    """SendMessage -> a ReceiveMessage that is already long-polling returns. The delete is not timed."""
    samples: list[float] = []
    for i in range(warmup + n):
        got: dict[str, Any] = {}
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_receive_one, sqs, queue_url, wait_s, got)
                await anyio.sleep(0.01)  # the receive is now waiting in the emulator
                sent = time.perf_counter()
                await sqs.send_message(QueueUrl=queue_url, MessageBody=f"ping {i}")
        for m in got["messages"]:
            await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if i >= warmup:
            samples.append(got["at"] - sent)
    return samples


def _stage(ids: Sequence[str], frm: Mapping[str, float], to: Mapping[str, float]) -> list[float]:
    return [to[i] - frm[i] for i in ids if i in frm and i in to]


def _handled_more(workers: Sequence[Worker]) -> Callable[[], bool]:
    """Whether every worker has acked one more message than now."""
    before = [w.handled for w in workers]
    return lambda: all(w.handled > b for w, b in zip(workers, before, strict=True))


async def bus_latency(stack: Stack, probe: Probe, n: int, warmup: int) -> dict[str, Any]:
    """N single A events, one at a time; the next goes in when both workers have acked the last."""
    session = str(uuid.uuid4())
    await create_sessions(stack.log, session)
    ping, pong = stack.workers["ping"], stack.workers["pong"]
    injected: dict[str, float] = {}
    ids: list[str] = []
    for i in range(warmup + n):
        a = a_event(session, i)
        done = probe.expect(a.id)
        acked = _handled_more((ping, pong))
        await stack.log.commit([a])
        injected[a.id] = time.perf_counter()
        with anyio.fail_after(30):
            await done.wait()
        await _until(acked)
        if i >= warmup:
            ids.append(a.id)
    publish_start = {k: v[0] for k, v in probe.b_publish.items()}
    return {
        "bus_ms": summary_ms(_stage(ids, probe.b_committed, probe.pong_called)),
        "bus_from_event_time_ms": summary_ms(_stage(ids, probe.b_time, probe.pong_called_wall)),
        "first_hop_ms": summary_ms(_stage(ids, injected, probe.ping_called)),
        "two_hops_ms": summary_ms(_stage(ids, injected, probe.pong_called)),
        "breakdown_ms": {
            "relay_pickup": summary_ms(_stage(ids, probe.b_committed, publish_start)),
            "bus_to_receive": summary_ms(_stage(ids, publish_start, probe.b_received)),
            "receive_to_handler": summary_ms(_stage(ids, probe.b_received, probe.pong_called)),
            "put_events_call": summary_ms(
                [probe.b_publish[i][1] - probe.b_publish[i][0] for i in ids if i in probe.b_publish]
            ),
        },
    }


async def throughput(
    stack: Stack, probe: Probe, k: int, window: int, batch: int, sessions: int, timeout_s: float
) -> dict[str, Any]:
    """K A events committed in batches, at most ``window`` of them not yet seen by pong (bounded queues)."""
    sids = [str(uuid.uuid4()) for _ in range(sessions)]
    await create_sessions(stack.log, *sids)
    ids: list[str] = []
    injected_at: dict[str, float] = {}
    # the latency run before this one waited for each of its events: every pong from here on is for ``ids``
    pongs_before = probe.pongs

    def done() -> int:
        return probe.pongs - pongs_before

    started = time.perf_counter()
    with anyio.fail_after(timeout_s):
        n_batch = 0
        while len(ids) < k:
            while (room := window - (len(ids) - done())) <= 0:
                await probe.progress()
            n = min(batch, room, k - len(ids))
            events = [a_event(sids[n_batch % sessions], len(ids) + j) for j in range(n)]
            await stack.log.commit(events)
            now = time.perf_counter()
            for e in events:
                ids.append(e.id)
                injected_at[e.id] = now
            n_batch += 1
        while done() < k:
            await probe.progress()
    elapsed = max(probe.pong_called[i] for i in ids) - started
    return {
        "events": k,
        "seconds": round(elapsed, 2),
        "events_per_s": round(k / elapsed, 1),
        "handler_calls_per_s": round(2 * k / elapsed, 1),
        "window": window,
        "batch": batch,
        "sessions": sessions,
        "two_hops_under_load_ms": summary_ms(_stage(ids, injected_at, probe.pong_called)),
    }


CpuSample = tuple[float | None, float | None]


def _cpu_now(stack: Stack) -> CpuSample:
    """CPU seconds used so far: (the emulator subprocess, None when it runs in this process; this process)."""
    emulator = None if stack.config.emulator_in_process else cpu_seconds(stack.emulator.pid)
    return emulator, cpu_seconds()


def _cpu_pct(before: CpuSample, after: CpuSample, seconds: float) -> tuple[float | None, float | None]:
    """% of one core used between two ``_cpu_now`` samples ``seconds`` apart: (emulator, this process)."""

    def pct(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round((b - a) / seconds * 100, 1)

    return pct(before[0], after[0]), pct(before[1], after[1])


async def idle_cpu(stack: Stack, seconds: float) -> dict[str, float | None]:
    """CPU used while the stack sits idle (the relay polling the stream, the workers long-polling)."""
    before = _cpu_now(stack)
    started = time.perf_counter()
    await anyio.sleep(seconds)
    after = _cpu_now(stack)
    elapsed = time.perf_counter() - started
    emulator_pct, bench_pct = _cpu_pct(before, after, elapsed)
    return {"emulator_pct": emulator_pct, "bench_process_pct": bench_pct, "seconds": round(elapsed, 1)}


async def measure(placement: str, args: argparse.Namespace) -> dict[str, Any]:
    probe = Probe()
    in_process = PLACEMENTS[placement]
    if in_process:
        # werkzeug logs every request at INFO to stderr when nothing configured its logger; in process that
        # floods this terminal (and costs the emulator a write per request). The subprocess logs to a file.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="shoebox-bench-") as state_dir:
        config = StackConfig(
            emulator_port=free_port(),
            api_port=free_port(),
            prefix="bench",
            state_dir=state_dir,
            services=(),
            run_api=False,
            emulator_in_process=in_process,
            processes=False,  # the relay in this process: the probe times its PutEvents from inside
            **({"relay_poll_s": args.relay_poll_s} if args.relay_poll_s is not None else {}),
        )
        services = (ping_service(probe, args.concurrency), pong_service(probe, args.concurrency))
        async with running_stack(config, extra_services=services) as stack:
            ping, pong = stack.workers["ping"], stack.workers["pong"]
            ping.processor.log = TimedLog(stack.log, probe)
            pong.sqs = cast("SQSClient", TimedSQS(stack.clients.sqs, probe))
            assert stack.relay is not None
            stack.relay.events = cast("EventBridgeClient", TimedEvents(stack.clients.events, probe))
            floor_q = (await stack.clients.sqs.create_queue(QueueName="bench-floor"))["QueueUrl"]

            result: dict[str, Any] = {
                "load_1m_before": round(os.getloadavg()[0], 2),
                "relay_poll_s": config.relay_poll_s,
                "worker_wait_s": config.worker_wait_s,
                "idle_cpu": await idle_cpu(stack, args.idle_s),
                "bare_sqs_ms": summary_ms(
                    await bare_sqs(
                        stack.clients.sqs, floor_q, args.samples, args.warmup, config.worker_wait_s
                    )
                ),
            }
            result.update(await bus_latency(stack, probe, args.samples, args.warmup))
            ratio = result["bus_ms"]["p50"] / result["bare_sqs_ms"]["p50"]
            result["ratio_p50"] = round(ratio, 2)
            result["verdict"] = "PASS" if ratio <= TARGET_RATIO else "MISS"
            cpu_before = _cpu_now(stack)
            result["throughput"] = await throughput(
                stack,
                probe,
                args.events,
                args.window,
                args.batch,
                args.sessions,
                timeout_s=args.throughput_timeout_s,
            )
            t = result["throughput"]
            cpu_pct = _cpu_pct(cpu_before, _cpu_now(stack), t["seconds"])
            t["emulator_cpu_pct"], t["bench_process_cpu_pct"] = cpu_pct
            result["pong_duplicates"] = probe.pong_duplicates
            result["relay_published"] = stack.relay.published
            result["load_1m_after"] = round(os.getloadavg()[0], 2)
    return result


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--samples", type=int, default=None, help="latency samples per placement (200)")
    group.add_argument("--warmup", type=int, default=None, help="untimed events first (20)")
    group.add_argument("--events", type=int, default=None, help="A events in the throughput run (300)")
    group.add_argument(
        "--window",
        type=int,
        default=20,
        help="throughput: at most this many A events in flight (keeps SQS backlogs small)",
    )
    group.add_argument("--batch", type=int, default=10, help="throughput: A events per log commit")
    group.add_argument("--sessions", type=int, default=8, help="throughput: streams the A events spread over")
    group.add_argument(
        "--concurrency", type=int, default=4, help="ping/pong worker concurrency (product default)"
    )
    group.add_argument(
        "--placement",
        choices=[*PLACEMENTS, "both"],
        default="both",
        help="where the emulator runs (default: both, one after the other)",
    )
    group.add_argument(
        "--relay-poll-s",
        type=float,
        default=None,
        help=f"relay idle poll interval (default: the stack's, {StackConfig().relay_poll_s})",
    )
    group.add_argument("--idle-s", type=float, default=5.0, help="seconds of idle stack to measure CPU over")
    group.add_argument("--throughput-timeout-s", type=float, default=90.0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = getattr(args, "quick", False)
    args.samples = args.samples or (30 if quick else 200)
    args.warmup = args.warmup if args.warmup is not None else (5 if quick else 20)
    args.events = args.events or (100 if quick else 300)
    placements = list(PLACEMENTS) if args.placement == "both" else [args.placement]
    results = {p: anyio.run(measure, p, args) for p in placements}
    return {
        "config": {
            "samples": args.samples,
            "warmup": args.warmup,
            "events": args.events,
            "window": args.window,
            "batch": args.batch,
            "sessions": args.sessions,
            "concurrency": args.concurrency,
            "a_event": A.type_name(),
            "b_event": B.type_name(),
            "target_ratio_p50": TARGET_RATIO,
            "latency": "ping's EventLog.commit(B) returned -> pong's handler called with B",
            "throughput": "A committed -> pong handler called for its B (2 appends, 2 publications, "
            "2 deliveries, 2 handler calls per counted event)",
        },
        "placements": results,
    }


# -------------------------------------------------------------------------------------------- tables
LATENCY_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("floor: bare SQS send -> waiting receive", ("bare_sqs_ms",)),
    ("bus: append returned -> next handler", ("bus_ms",)),
    ("  relay pickup: append -> PutEvents sent", ("breakdown_ms", "relay_pickup")),
    ("  PutEvents sent -> ReceiveMessage returns", ("breakdown_ms", "bus_to_receive")),
    ("  ReceiveMessage returns -> handler called", ("breakdown_ms", "receive_to_handler")),
    ("  (the PutEvents call itself)", ("breakdown_ms", "put_events_call")),
    ("bus from B.time (stamped before the append)", ("bus_from_event_time_ms",)),
    ("two hops: A appended -> pong handler", ("two_hops_ms",)),
)


def _f(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}" if isinstance(x, float) else str(x)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} %"


def _get(r: Mapping[str, Any], path: Sequence[str]) -> Any:
    for k in path:
        r = r[k]
    return r


def tables(result: Mapping[str, Any]) -> list[Table]:
    placements: Mapping[str, Any] = result["placements"]
    first = next(iter(placements.values()))
    lat = Table(
        title=f"bus latency, ms (n={result['config']['samples']} sequential events; relay poll "
        f"{first['relay_poll_s'] * 1000:g} ms; worker long poll {first['worker_wait_s']} s)",
        caption="1-min load average before -> after: "
        + "; ".join(f"{p} {r['load_1m_before']} -> {r['load_1m_after']}" for p, r in placements.items()),
    )
    lat.add_column("path")
    for placement in placements:
        for q in ("p50", "p90", "p99"):
            lat.add_column(f"{placement}\n{q}", justify="right")
    for label, path in LATENCY_ROWS:
        lat.add_row(
            label, *(_f(_get(r, path).get(q)) for r in placements.values() for q in ("p50", "p90", "p99"))
        )

    verdict = Table(title=f"bus vs floor (target: bus p50 within {TARGET_RATIO:g}x the bare SQS round trip)")
    for col in ("emulator", "bus p50 ms", "floor p50 ms", "ratio", "verdict"):
        verdict.add_column(col, justify="left" if col == "emulator" else "right")
    for placement, r in placements.items():
        colour = "green" if r["verdict"] == "PASS" else "red"
        verdict.add_row(
            placement,
            _f(r["bus_ms"]["p50"]),
            _f(r["bare_sqs_ms"]["p50"]),
            f"{r['ratio_p50']:.1f}x",
            f"[{colour}]{r['verdict']}[/{colour}]",
        )

    tp = Table(
        title="sustained throughput, full path counted once per A event: log -> relay -> bus -> queue -> "
        "ping -> append -> relay -> bus -> queue -> pong",
        caption="CPU in % of one core. bench: this process (workers, relay, harness; in_process also the "
        "emulator). idle: the stack doing nothing (relay polling the stream, workers long-polling).",
    )
    for col in (
        "emulator",
        "A events",
        "s",
        "events/s",
        "handler calls/s",
        "in flight",
        "two hops p50 ms",
        "emulator CPU",
        "bench CPU",
        "idle: emulator CPU",
        "idle: bench CPU",
    ):
        tp.add_column(col, justify="left" if col == "emulator" else "right")
    for placement, r in placements.items():
        t, idle = r["throughput"], r["idle_cpu"]
        tp.add_row(
            placement,
            str(t["events"]),
            _f(t["seconds"]),
            _f(t["events_per_s"]),
            _f(t["handler_calls_per_s"]),
            f"<= {t['window']}",
            _f(t["two_hops_under_load_ms"]["p50"]),
            _pct(t["emulator_cpu_pct"]),
            _pct(t["bench_process_cpu_pct"]),
            _pct(idle["emulator_pct"]),
            _pct(idle["bench_process_pct"]),
        )
    return [lat, verdict, tp]
