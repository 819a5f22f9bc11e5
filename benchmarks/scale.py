"""1,000 photos through ``shoebox process`` on a ``shoebox up``: wall time, throughput, memory, polls.

What a person does with a big card, measured from outside: the real ``shoebox up`` (its own process tree, on
free ports, with a temporary state folder) and the real ``shoebox process DIR --api URL`` against it, while
20 pollers read the session's status the way the upload page does (every second, ``If-None-Match``).

Figures (issue 11, item 6; targets printed with PASS/MISS, never asserted):

- **wall time**: ``shoebox process`` started -> exited (hashing, uploads, every decision, the report);
- **files/s in the first and the last hundred decided files**, from the event log: the ``time`` of each
  ``media.file.processed``/``rejected``/``duplicate`` event (stamped by media_process just before it
  commits), read through the API's events route after the run; each rate is 99 intervals over the time
  they span, so the start-up before the first decision counts in neither;
- **peak RSS of the whole process tree**: every process under ``shoebox up`` and ``shoebox process``,
  summed at each sample (``/proc`` every 0.2 s), with each role's share (the emulator's apart);
- **poll latency**: the 20 pollers during the run (p50/p99, and by quarter of the run), then, after the
  run, full-session polls of the finished session (one at a time, and 20 at once).

The photos (``benchmarks/_scale_photos.py``) are made once into ``~/.cache/shoebox-bench`` (outside the
repository, keyed by a version) and their making is timed apart from the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
from rich.console import Console
from rich.table import Table

from benchmarks._common import ROOT, percentile, summary_ms
from benchmarks._proctree import MIB, TreeSampler, short_command
from benchmarks._scale_photos import VERSION as PHOTOS_VERSION
from benchmarks._scale_photos import ensure, link_set, spec
from benchmarks._stackprof import ENV as PROFILE_ENV
from benchmarks._stackprof import SITECUSTOMIZE, load

#: many minutes and a gigabyte of photos: run by ``task bench -- scale``, not by a bare ``task bench``
NAMED_ONLY = True
#: the issue's targets: under 5 minutes, peak RSS under 1.5 GiB, last hundred >= 80 % of the first's rate
TARGET_WALL_S = 300.0
TARGET_PEAK_RSS = int(1.5 * 1024 * MIB)
TARGET_LAST_FIRST = 0.8
DECISIONS = ("media.file.processed", "media.file.rejected", "media.file.duplicate")
POLL_MODES = ("etag", "full", "delta")
_console = Console(stderr=True)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--files", type=int, default=None, help="photos in the session (default 1000; --quick 100)"
    )
    group.add_argument("--pollers", type=int, default=20, help="concurrent status pollers (default 20)")
    group.add_argument(
        "--poll-interval-s", type=float, default=1.0, help="each poller's pause between polls (default 1.0)"
    )
    group.add_argument(
        "--poll-mode",
        choices=POLL_MODES,
        default="delta",
        help="delta: If-None-Match and ?after_version=V (V from the last answer), as the upload page polls "
        "(default; code without delta polls answers it with the whole session, as etag); etag: "
        "If-None-Match alone; full: the whole session every time",
    )
    group.add_argument("--photo-cache", type=Path, default=None, help="default ~/.cache/shoebox-bench")
    group.add_argument("--cli-timeout-s", type=float, default=3600.0, help="shoebox process --timeout")
    group.add_argument("--keep", action="store_true", help="keep the run's folder (state, logs, report)")
    group.add_argument(
        "--profile",
        action="store_true",
        help="sample every stack process's Python stacks (CPU by function); costs a few %% CPU: "
        "a run to find bottlenecks, not one to quote",
    )


# --------------------------------------------------------------------------- processes
def _shoebox() -> str:
    exe = Path(sys.executable).parent / "shoebox"
    return str(exe) if exe.exists() else str(ROOT / ".venv" / "bin" / "shoebox")


def _free_port() -> int:
    from deploy.local.emulator import free_port

    return free_port()


def _stop(proc: subprocess.Popen[bytes], *, grace_s: float) -> float:
    """SIGINT (as Ctrl-C in its terminal would send it to this process alone), then SIGKILL to its whole
    process group after ``grace_s``; returns how long it took to exit."""
    started = time.perf_counter()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own group (start_new_session): only what it started
            proc.wait(10)
    return round(time.perf_counter() - started, 1)


def _spawn(
    cmd: list[str], log: Path, *, cwd: Path, env: dict[str, str], group: bool
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with its output in ``log``; ``group``: in a process group of its own, so a Ctrl-C
    in this terminal does not reach it and it can be killed whole."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=group,
        )


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


async def _until_healthy(api: str, up: subprocess.Popen[bytes], log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if up.poll() is not None:
                raise RuntimeError(f"shoebox up exited with {up.returncode}:\n{_tail(log)}")
            try:
                if (await http.get(f"{api}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await anyio.sleep(0.2)
    raise RuntimeError(f"shoebox up did not answer on {api} within {timeout_s:.0f} s:\n{_tail(log)}")


# --------------------------------------------------------------------------- polls
class Polls:
    """Every poll: (start, seconds since the CLI started; latency s; HTTP status; body bytes)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, float, int, int]] = []
        self.errors: list[str] = []


def _params(mode: str, etag: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The query and headers of a poll in ``mode`` after the poller's last ETag."""
    if mode == "full" or etag is None:
        return {}, {}
    headers = {"If-None-Match": etag}
    if mode == "delta":
        version = re.search(r"-v(\d+)", etag)  # the API's ETag is "status-v<session version>"
        if version:
            return {"after_version": version.group(1)}, headers
    return {}, headers


async def _poller(
    http: httpx.AsyncClient, path: str, polls: Polls, t0: float, mode: str, interval_s: float, offset_s: float
) -> None:
    await anyio.sleep(offset_s)  # spread over the interval, as independent clients would be
    etag: str | None = None
    while True:
        params, headers = _params(mode, etag)
        started = time.perf_counter()
        try:
            r = await http.get(path, params=params, headers=headers)
            body = len(r.content)
        except httpx.HTTPError as exc:
            polls.errors.append(type(exc).__name__)
        else:
            polls.records.append((started - t0, time.perf_counter() - started, r.status_code, body))
            if r.status_code == 200:
                etag = r.headers.get("etag", etag)
            elif r.status_code != 304:
                polls.errors.append(f"HTTP {r.status_code}")
        await anyio.sleep(interval_s)


def _session_id(out: Path) -> str | None:
    from shoebox_cli import state

    st = state.load(out)
    return st.session_id if st else None


async def _final_polls(http: httpx.AsyncClient, path: str, concurrent: int) -> dict[str, Any]:
    """Full polls of the finished session: ten one after another, then ``concurrent`` at once."""
    one_by_one: list[float] = []
    size = 0
    for _ in range(10):
        t = time.perf_counter()
        r = await http.get(path)
        one_by_one.append(time.perf_counter() - t)
        size = len(r.content)
    together: list[float] = []

    async def one() -> None:
        t = time.perf_counter()
        await http.get(path)
        together.append(time.perf_counter() - t)

    async with anyio.create_task_group() as tg:
        for _ in range(max(1, concurrent)):
            tg.start_soon(one)
    return {
        "body_bytes": size,
        "one_at_a_time_ms": summary_ms(one_by_one),
        f"{max(1, concurrent)}_at_once_ms": summary_ms(together),
    }


def _poll_figures(polls: Polls, wall_s: float) -> dict[str, Any]:
    latencies = [lat for _, lat, _, _ in polls.records]
    full = [lat for _, lat, status, _ in polls.records if status == 200]
    quarters = []
    for q in range(4):
        lo, hi = wall_s * q / 4, wall_s * (q + 1) / 4
        inside = sorted(lat * 1000 for t, lat, _, _ in polls.records if lo <= t < hi)
        quarters.append(
            {
                "n": len(inside),
                "p50": round(percentile(inside, 50), 1) if inside else None,
                "p99": round(percentile(inside, 99), 1) if inside else None,
            }
        )
    return {
        "all_ms": summary_ms(latencies),
        "answered_200_ms": summary_ms(full),
        "not_modified_304": sum(1 for r in polls.records if r[2] == 304),
        "errors": len(polls.errors),
        "error_kinds": sorted(set(polls.errors)),
        "by_quarter_of_run_ms": quarters,
        "mean_body_bytes_200": round(sum(r[3] for r in polls.records if r[2] == 200) / max(1, len(full))),
    }


# --------------------------------------------------------------------------- decisions
async def _decision_times(http: httpx.AsyncClient, session_id: str) -> tuple[list[float], dict[str, int]]:
    """Unix times of the session's decision events, sorted, and how many decisions each file key got."""
    times: list[float] = []
    per_key: dict[str, int] = {}
    after = 0
    while True:
        r = await http.get(f"/v1/sessions/{session_id}/events", params={"after": after, "limit": 500})
        r.raise_for_status()
        page = r.json()
        for e in page["events"]:
            if any(e["type"].startswith(f"shoebox.{d}") for d in DECISIONS):
                times.append(dt.datetime.fromisoformat(e["time"]).timestamp())
                key = str((e.get("data") or {}).get("file", {}).get("key", e.get("subject")))
                per_key[key] = per_key.get(key, 0) + 1
        if page.get("next_after") is None:
            return sorted(times), per_key
        after = page["next_after"]


def _rate(times: Sequence[float]) -> float | None:
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return round((len(times) - 1) / span, 2) if span > 0 else None


def _cpu_per_file(times: Sequence[float], sampler: TreeSampler) -> float | None:
    """CPU seconds the stack and the CLI used per decision over ``times`` (the load of the rest of the
    machine does not move it, unlike files/s)."""
    a, b = sampler.cpu_at(times[0]), sampler.cpu_at(times[-1])
    if a is None or b is None or len(times) < 2:
        return None
    return round((b - a) / (len(times) - 1), 3)


def _throughput(times: list[float], cli_started: float, sampler: TreeSampler) -> dict[str, Any]:
    n = len(times)
    if n < 4:
        return {"decisions": n}
    window = min(100, n // 2)
    first, last = _rate(times[:window]), _rate(times[-window:])
    cpu_first, cpu_last = _cpu_per_file(times[:window], sampler), _cpu_per_file(times[-window:], sampler)
    tenth = max(2, n // 10)
    return {
        "cpu_s_per_file_first_window": cpu_first,
        "cpu_s_per_file_last_window": cpu_last,
        "cpu_per_file_last_over_first": round(cpu_last / cpu_first, 2) if cpu_first and cpu_last else None,
        "decisions": n,
        "window": window,
        "first_window_files_per_s": first,
        "last_window_files_per_s": last,
        "last_over_first": round(last / first, 2) if first and last else None,
        "overall_files_per_s": _rate(times),
        "by_tenth_files_per_s": [_rate(times[i : i + tenth]) for i in range(0, n - 1, tenth)],
        "first_decision_after_s": round(times[0] - cli_started, 1),
        "last_decision_after_s": round(times[-1] - cli_started, 1),
    }


# --------------------------------------------------------------------------- the run
def _label(roots: dict[str, int]) -> Any:
    def label_of(pid: int, argv: list[str], root: str) -> str:
        if "deploy.local.moto_server" in argv:
            return "emulator"
        if pid == roots.get(root):
            return {"stack": "shoebox up", "cli": "shoebox process"}.get(root, root)
        return f"{'shoebox up' if root == 'stack' else 'shoebox process'} > {short_command(argv)}"

    return label_of


async def _measure(args: argparse.Namespace, inputs: Path, work: Path, count: int) -> dict[str, Any]:
    state, out, logs = work / "state", work / "out", work / "logs"
    logs.mkdir(parents=True)
    env = dict(os.environ)
    if args.profile:
        site = work / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), env.get("PYTHONPATH")]))
        env[PROFILE_ENV] = str(work / "profile")
    emulator_port, api_port = _free_port(), _free_port()
    api = f"http://127.0.0.1:{api_port}"
    up_log = logs / "up.log"
    started_up = time.perf_counter()
    up_cmd = [_shoebox(), "up", "--emulator-port", str(emulator_port), "--api-port", str(api_port)]
    up = _spawn([*up_cmd, "--state-dir", str(state)], up_log, cwd=work, env=env, group=True)
    cli: subprocess.Popen[bytes] | None = None
    sampler: TreeSampler | None = None
    try:
        await _until_healthy(api, up, up_log)
        startup_s = round(time.perf_counter() - started_up, 1)
        roots = {"stack": up.pid}
        sampler = TreeSampler(roots, interval_s=0.2, label_of=_label(roots)).start()
        from shoebox_cli.tokens import mint

        token = mint(state)
        polls = Polls()
        limits = httpx.Limits(max_connections=args.pollers + 4, max_keepalive_connections=args.pollers + 4)
        async with httpx.AsyncClient(
            base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits
        ) as http:
            cli_log = logs / "process.log"
            cmd = [_shoebox(), "process", str(inputs), "--api", api, "--state-dir", str(state)]
            cmd += ["--out", str(out), "--plain", "--timeout", str(args.cli_timeout_s)]
            cmd += ["--context", "scale benchmark"]
            _console.print(f"scale: {count:,} photos through shoebox process on {api}")
            cli_started_unix = time.time()
            bench_cpu0 = os.times()
            t0 = time.perf_counter()
            cli = _spawn(cmd, cli_log, cwd=work, env=env, group=False)
            roots["cli"] = cli.pid
            sampler.add_root("cli", cli.pid)
            async with anyio.create_task_group() as tg:
                session_id = None
                while session_id is None and cli.poll() is None:
                    session_id = _session_id(out)
                    await anyio.sleep(0.1)
                if session_id is not None and args.pollers > 0:
                    path = f"/v1/sessions/{session_id}"
                    for k in range(args.pollers):
                        offset = args.poll_interval_s * k / args.pollers
                        tg.start_soon(
                            _poller, http, path, polls, t0, args.poll_mode, args.poll_interval_s, offset
                        )
                rc = await anyio.to_thread.run_sync(cli.wait)
                wall_s = round(time.perf_counter() - t0, 1)
                tg.cancel_scope.cancel()
            bench_cpu1 = os.times()
            sampler.stop()
            if session_id is None:
                raise RuntimeError(
                    f"shoebox process exited with {rc} before it made a session:\n{_tail(cli_log)}"
                )
            # a job that gave up is a result too: the figures up to then are measured all the same
            failed = {"cli_exit_code": rc, "cli_last_lines": _tail(cli_log, 3).splitlines()} if rc else {}
            _console.print(f"scale: shoebox process exited ({rc}) after {wall_s} s; final polls, event log")
            final: dict[str, Any]
            try:
                final = await _final_polls(http, f"/v1/sessions/{session_id}", args.pollers or 20)
            except httpx.HTTPError as exc:
                final = {"error": f"{type(exc).__name__}: {exc}"}
            times, per_key = await _decision_times(http, session_id)
        report = _report(out)
        peak = sampler.peak()
        peaks = sampler.label_peaks()
        result: dict[str, Any] = {
            **failed,
            "wall_s": wall_s,
            "startup_s": startup_s,
            "session_id": session_id,
            "report": report,
            "throughput": _throughput(times, cli_started_unix, sampler)
            | {
                "source": "event log: time of each media.file.processed/rejected/duplicate event",
                "files_decided": len(per_key),
                "files_decided_more_than_once": sum(1 for n in per_key.values() if n > 1),
            },
            "rss": {
                "peak_mib": round(peak.total / MIB, 1) if peak else None,
                "peak_at_s": peak.t if peak else None,
                "at_peak_by_role_mib": {k: round(v / MIB, 1) for k, v in sorted(peak.by_label.items())}
                if peak
                else {},
                "peak_by_role_mib": {k: round(v / MIB, 1) for k, v in sorted(peaks.items())},
                "emulator_peak_mib": round(peaks.get("emulator", 0) / MIB, 1),
                "end_mib": round(sampler.samples[-1].total / MIB, 1) if sampler.samples else None,
                "samples": len(sampler.samples),
                "sample_cost_ms_p50": round(percentile(sorted(sampler.sample_cost_s), 50) * 1000, 2),
                "series_mib": sampler.series(),
            },
            "cpu": {
                "tree_s": sampler.samples[-1].cpu_s if sampler.samples else None,
                "share_of_cores": round(
                    sampler.samples[-1].cpu_s / (wall_s * len(os.sched_getaffinity(0))), 2
                )
                if sampler.samples
                else None,
            },
            "cpu_s_by_role": sampler.label_cpu_s()
            | {
                "benchmark (pollers, sampler)": round(
                    bench_cpu1.user + bench_cpu1.system - bench_cpu0.user - bench_cpu0.system, 1
                )
            },
            "polls": {"during_run": _poll_figures(polls, wall_s), "after_run_full": final},
        }
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
            cli.wait(10)
        if sampler is not None:
            sampler.stop()
        shutdown_s = _stop(up, grace_s=90)
    result["shutdown_s"] = shutdown_s
    if args.profile:
        result["profile"] = _profile_summary(work / "profile")
    return result


def _report(out: Path) -> dict[str, Any]:
    from shoebox_cli import report

    try:
        r = report.decode((out / report.JSON_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return {
        "counts": {
            "files": r.counts.files,
            "processed": r.counts.processed,
            "rejected": r.counts.rejected,
            "duplicate": r.counts.duplicate,
            "missing": r.counts.missing,
        },
        "timings_s": {
            "upload": r.timings.upload_s,
            "processing": r.timings.processing_s,
            "total": r.timings.total_s,
        },
    }


def _profile_summary(directory: Path, top: int = 25) -> dict[str, Any]:
    """Per profiled process (the heaviest first): its CPU, and its top functions by self and inclusive
    CPU seconds."""
    found: list[dict[str, Any]] = []
    for p in load(directory):
        argv = [str(a) for a in p.get("argv", [])]
        found.append(
            {
                "process": short_command(argv),
                "pid": p.get("pid"),
                "cpu_s": p.get("cpu_s"),
                "cpu_s_python_threads": p.get("cpu_s_python_threads"),
                "self_s": dict(list(p.get("self_s", {}).items())[:top]),
                "inclusive_s": dict(list(p.get("inclusive_s", {}).items())[:top]),
                "stacks_s": dict(list(p.get("stacks_s", {}).items())[:10]),
            }
        )
    found.sort(key=lambda p: -float(p["cpu_s"] or 0))
    return {"directory": str(directory), "processes": found}


def _targets(result: dict[str, Any]) -> dict[str, Any]:
    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "PASS" if ok else "MISS"

    peak = result["rss"]["peak_mib"]
    ratio = result["throughput"].get("last_over_first")
    return {
        "wall_s": {"target": f"< {TARGET_WALL_S:g}", "verdict": verdict(result["wall_s"] < TARGET_WALL_S)},
        "peak_rss_mib": {
            "target": f"< {TARGET_PEAK_RSS / MIB:g}",
            "verdict": verdict(None if peak is None else peak * MIB < TARGET_PEAK_RSS),
        },
        "last_over_first": {
            "target": f">= {TARGET_LAST_FIRST:g}",
            "verdict": verdict(None if ratio is None else ratio >= TARGET_LAST_FIRST),
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    count = args.files if args.files is not None else (100 if args.quick else 1000)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if done == total or time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            _console.print(f"scale: made {done} of {total} photos")

    made = ensure(count, args.photo_cache, progress=progress)
    load_before = round(os.getloadavg()[0], 2)
    specs = [spec(i) for i in range(1, count + 1)]
    work = Path(tempfile.mkdtemp(prefix="shoebox-scale-"))
    try:
        inputs = link_set(made, work / "photos")
        result = anyio.run(_measure, args, inputs, work, count)
    finally:
        if args.keep:
            _console.print(f"scale: the run's folder is kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    mp = sorted(s.megapixels for s in specs)
    sizes = sorted(p.stat().st_size for p in made.files)
    return {
        "config": {
            "files": count,
            "pollers": args.pollers,
            "poll_interval_s": args.poll_interval_s,
            "poll_mode": args.poll_mode,
            "rss_sample_s": 0.2,
            "profile": args.profile,
            "targets": {
                "wall_s": TARGET_WALL_S,
                "peak_rss_mib": TARGET_PEAK_RSS / MIB,
                "last_over_first": TARGET_LAST_FIRST,
            },
        },
        "photos": {
            "version": PHOTOS_VERSION,
            "directory": str(made.directory),
            "total_mb": round(made.total_bytes / 1e6, 1),
            "mean_mb": round(made.total_bytes / 1e6 / count, 2),
            "min_max_mb": [round(sizes[0] / 1e6, 2), round(sizes[-1] / 1e6, 2)],
            "megapixels_min_median_max": [round(mp[0], 1), round(percentile(mp, 50), 1), round(mp[-1], 1)],
            "with_exif": sum(1 for s in specs if s.exif),
            "generated_now": made.generated,
            "generate_s": made.generate_s,
        },
        **result,
        "targets": _targets(result),
        "load_1m_before": load_before,
        "load_1m_after": round(os.getloadavg()[0], 2),
    }


# --------------------------------------------------------------------------- tables
def _ms(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    if value is None or value != value:  # absent, or NaN (no sample)
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def tables(result: dict[str, Any]) -> list[Table]:
    """The figures against the targets; memory and CPU by process; the polls; the profile (if taken)."""
    tp, rss, targets = result["throughput"], result["rss"], result["targets"]
    files = result["config"]["files"]
    main = Table(title=f"scale: {files:,} photos through shoebox process on shoebox up")
    main.add_column("figure")
    main.add_column("value", justify="right")
    main.add_column("target", justify="right")
    main.add_column("verdict")
    if result.get("cli_exit_code"):
        main.add_row(
            "[red]shoebox process failed[/red]",
            f"exit {result['cli_exit_code']}: {' '.join(result.get('cli_last_lines', [])[-1:])}",
        )
    main.add_row(
        "wall time (s)", f"{result['wall_s']:.1f}", targets["wall_s"]["target"], targets["wall_s"]["verdict"]
    )
    w = tp.get("window", 100)
    main.add_row(f"files/s, first {w} decided", str(tp.get("first_window_files_per_s")), "", "")
    main.add_row(f"files/s, last {w} decided", str(tp.get("last_window_files_per_s")), "", "")
    main.add_row(
        "last / first",
        str(tp.get("last_over_first")),
        targets["last_over_first"]["target"],
        targets["last_over_first"]["verdict"],
    )
    main.add_row(
        f"CPU s per file (stack + CLI), first {w} / last {w}",
        f"{tp.get('cpu_s_per_file_first_window')} / {tp.get('cpu_s_per_file_last_window')}",
    )
    main.add_row(
        "peak RSS, whole tree (MiB)",
        f"{rss['peak_mib']:,.0f}" if rss["peak_mib"] else "-",
        targets["peak_rss_mib"]["target"],
        targets["peak_rss_mib"]["verdict"],
    )
    main.add_row(
        "  of which the emulator at the peak (MiB)", f"{rss['at_peak_by_role_mib'].get('emulator', 0):,.0f}"
    )
    during = result["polls"]["during_run"]
    pollers = result["config"]["pollers"]
    main.add_row(f"poll p99 during the run, {pollers} pollers (ms)", _ms(during["all_ms"], "p99"))
    after = result["polls"]["after_run_full"]
    main.add_row("full poll of the finished session, p50 (ms)", _ms(after.get("one_at_a_time_ms", {}), "p50"))
    main.add_row(
        "files/s overall; by tenth", f"{tp.get('overall_files_per_s')}; {tp.get('by_tenth_files_per_s')}"
    )
    main.add_row(
        "first / last decision after (s)",
        f"{tp.get('first_decision_after_s')} / {tp.get('last_decision_after_s')}",
    )
    main.add_row(
        "decided / more than once",
        f"{tp.get('files_decided')} / {tp.get('files_decided_more_than_once')}",
    )
    rep = result.get("report", {})
    if rep:
        c, t = rep["counts"], rep["timings_s"]
        main.add_row(
            "report: processed / rejected / duplicate / missing",
            f"{c['processed']} / {c['rejected']} / {c['duplicate']} / {c['missing']}",
        )
        main.add_row(
            "report: upload / processing / total (s)", f"{t['upload']} / {t['processing']} / {t['total']}"
        )
    ph = result["photos"]
    main.add_row(
        "photos: MB total (mean); MP min/median/max",
        f"{ph['total_mb']:,.0f} ({ph['mean_mb']}); {ph['megapixels_min_median_max']}",
    )
    main.add_row("photos made now / taking (s)", f"{ph['generated_now']} / {ph['generate_s']}")
    cpu = result["cpu"]
    main.add_row(
        "CPU used by the stack and the CLI (s; share of the cores over the run)",
        f"{cpu['tree_s']} ({cpu['share_of_cores']:.0%})" if cpu["tree_s"] is not None else "-",
    )
    main.add_row("stack start-up / shut-down (s)", f"{result['startup_s']} / {result['shutdown_s']}")
    main.add_row(
        "load average (1 min) before / after", f"{result['load_1m_before']} / {result['load_1m_after']}"
    )

    procs = Table(title="scale: memory and CPU by process")
    procs.add_column("process")
    procs.add_column("peak RSS (MiB)", justify="right")
    procs.add_column("at the tree's peak (MiB)", justify="right")
    procs.add_column("CPU (s)", justify="right")
    roles = sorted(set(rss["peak_by_role_mib"]) | set(result["cpu_s_by_role"]))
    for role in roles:
        procs.add_row(
            role,
            str(rss["peak_by_role_mib"].get(role, "-")),
            str(rss["at_peak_by_role_mib"].get(role, "-")),
            str(result["cpu_s_by_role"].get(role, "-")),
        )

    polls = Table(title=f"scale: polls ({result['config']['poll_mode']} mode during the run)")
    polls.add_column("polls")
    for col in ("n", "p50 ms", "p90 ms", "p99 ms", "max ms"):
        polls.add_column(col, justify="right")

    def row(name: str, s: dict[str, Any]) -> None:
        polls.add_row(name, str(s.get("n", 0)), *(_ms(s, k) for k in ("p50", "p90", "p99", "max")))

    row(f"during the run, {pollers} pollers, all", during["all_ms"])
    row("  of them answered 200 (not 304)", during["answered_200_ms"])
    for i, q in enumerate(during["by_quarter_of_run_ms"], 1):
        polls.add_row(f"  quarter {i} of the run", str(q["n"]), _ms(q, "p50"), "", _ms(q, "p99"), "")
    row("after the run: full poll, one at a time", after.get("one_at_a_time_ms", {}))
    together: dict[str, Any] = next((v for k, v in after.items() if k.endswith("_at_once_ms")), {})
    row(f"after the run: full poll, {pollers or 20} at once", together)
    polls.caption = (
        f"{during['not_modified_304']} answered 304; {during['errors']} errors {during['error_kinds']}; "
        + (f"a full body {after['body_bytes']:,} bytes" if "body_bytes" in after else after.get("error", ""))
    )
    out = [main, procs, polls]
    for p in result.get("profile", {}).get("processes", [])[:3]:
        prof = Table(title=f"scale --profile: {p['process']} (pid {p['pid']}), {p['cpu_s']} CPU s")
        prof.add_column("function (self: its own time and the C it calls)")
        prof.add_column("CPU s", justify="right")
        for name, secs in list(p["self_s"].items())[:15]:
            prof.add_row(name, str(secs))
        out.append(prof)
    return out
