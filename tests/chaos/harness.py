"""The chaos runs: sessions of the same 36 files pushed through ``shoebox process`` while processes of the
embedded stack are killed, every delivery doubled and shuffled, then checked against a clean run.

One stack serves the whole campaign. Its first run is a clean one, before its faults are armed (they
apply only while a file exists, ``Faults.armed_by``) and with nobody killing: it gives the expected
outcome. Then the faults are armed for every chaos run: the workers send every message they receive for
the first time back to their queue with a random delay (``Faults.double_deliveries_s``) and now and then
kill themselves between a commit and its ack (``Faults.crash_rate``), and a seeded killer sends SIGKILL
to random processes (workers, relay, API) at random points of the run (``Killer``). Each run is a new
session: the CLI (``shoebox_cli.process.Job``, in this process, over HTTP) uploads the folder and waits
for every result; the harness starts the triage as soon as the session exists (as the upload page does on
the first drop), uploads the second of the two files with the same bytes itself (the CLI sets it aside),
finalizes once the CLI is done, and waits for the verdicts; then ``checks`` looks at the log, the read
models, the workers' logs, the saga and the report.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
import msgspec

from deploy.local.emulator import free_port
from deploy.local.processes import API, RELAY, log_path, worker_name
from deploy.local.stack import Stack, StackConfig, running_stack
from shared.runtime.config import Settings
from shared.runtime.faults import Faults
from shoebox_cli import state
from shoebox_cli.inputs import plain_name, sha256_file
from shoebox_cli.process import Job, ProcessOptions
from shoebox_cli.report import Report
from shoebox_cli.tokens import JOB_TOKEN_TTL_S, LOCAL_USER
from shoebox_cli.ui import PlainUi
from tests.chaos import checks, media
from tests.chaos.checks import Findings, Outcome, Uploaded

#: what the killer may kill: every process of the stack but the emulator (a Lambda dies; AWS does not)
TARGETS = (
    worker_name("media_process"),
    worker_name("selection"),
    worker_name("api"),
    RELAY,
    API,
)
#: the problems a run's line shows at most
SHOWN = 8
#: how long the harness's own API calls ride out an API that is being restarted
API_PATIENCE_S = 120.0


class ChaosConfig(msgspec.Struct, frozen=True, kw_only=True):
    runs: int = 50
    seed: int = 1
    #: the killer's SIGKILLs per run, each at a random point of the run's progress (``Killer``)
    kills: int = 3
    #: how long a dead worker's message stays hidden (the shipped stack's is 20 s; shorter keeps runs short)
    visibility_s: int = 5
    #: copies of every message come back after 0 to this many seconds
    double_deliveries_s: int = 5
    #: the chance that a worker dies between a commit and its ack
    crash_rate: float = 0.03
    #: False: the processors keep no tracking record (the runs must then fail)
    tracking: bool = True
    #: False: no clean run; the runs are checked only for what needs no reference (lost, doubled, stuck,
    #: read models)
    clean: bool = True
    job_timeout_s: float = 300.0
    saga_timeout_s: float = 240.0


class RunResult(msgspec.Struct, kw_only=True):
    index: int
    session_id: str | None
    wall_s: float
    files: int
    #: the killer's kills (process names), and the crashes the workers' own fault made
    kills: list[str]
    crashes: list[str]
    #: the killer's kills that landed between a commit and its ack (``checks.died_after_commit``)
    died_after_commit: int = 0
    findings: Findings
    outcome: Outcome | None = None


class Summary(msgspec.Struct, kw_only=True):
    config: ChaosConfig
    clean_wall_s: float | None
    runs: list[RunResult]
    wall_s: float

    def figures(self) -> dict[str, Any]:
        kills: Counter[str] = Counter(k for r in self.runs for k in r.kills)
        crashes: Counter[str] = Counter(k for r in self.runs for k in r.crashes)
        totals = {
            f: sum(len(getattr(r.findings, f)) for r in self.runs) for f in msgspec.structs.asdict(Findings())
        }
        walls = [r.wall_s for r in self.runs]
        return {
            "runs": len(self.runs),
            "seed": self.config.seed,
            "files": sum(r.files for r in self.runs),
            "kills": dict(sorted(kills.items())),
            "kills_total": sum(kills.values()),
            "crashes": dict(sorted(crashes.items())),
            "crashes_total": sum(crashes.values()),
            "killed_after_commit": sum(r.died_after_commit for r in self.runs),
            **totals,
            "problems": sum(totals.values()),
            "wall_s": round(self.wall_s, 1),
            "clean_run_s": round(self.clean_wall_s, 1) if self.clean_wall_s is not None else None,
            "run_p50_s": round(statistics.median(walls), 1) if walls else None,
            "run_max_s": round(max(walls), 1) if walls else None,
        }

    def problems(self) -> int:
        return int(self.figures()["problems"])

    def text(self) -> str:
        f = self.figures()

        def per(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

        return "\n".join(
            [
                f"chaos: {f['runs']} runs (seed {f['seed']}), {media.COUNT} files each, {f['files']} decided",
                f"kills: {f['kills_total']} ({per(f['kills'])})",
                f"worker crashes between commit and ack: {f['crashes_total']} ({per(f['crashes'])}); "
                f"kills that landed there: {f['killed_after_commit']}",
                f"lost {f['lost']}, doubled {f['doubled']}, handled twice {f['handled_twice']}, "
                f"stuck {f['stuck']}, given up {f['given_up']}, mismatches {f['mismatches']}, "
                f"read models {f['views']}",
                f"wall {f['wall_s']} s: runs p50 {f['run_p50_s']} s, max {f['run_max_s']} s; "
                f"clean run {f['clean_run_s']} s",
            ]
        )


# ----------------------------------------------------------------------------- the API, patiently
class Api:
    """The public API as the harness calls it: transport errors and 5xx answers (an API being restarted)
    are tried again for up to ``API_PATIENCE_S``."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )
        #: presigned URLs carry their own signature: storage refuses a second credential (the bearer token)
        self.storage = httpx.AsyncClient(timeout=30.0)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.storage.aclose()

    async def call(
        self,
        method: str,
        url: str,
        *,
        ok: Sequence[int] = (200,),
        client: httpx.AsyncClient | None = None,
        **kw: Any,
    ) -> Any:
        deadline = time.monotonic() + API_PATIENCE_S
        while True:
            try:
                r = await (client or self.http).request(method, url, **kw)
                if r.status_code in ok:
                    return r.json() if r.content else None
                if r.status_code < 500:
                    raise AssertionError(f"{method} {url}: {r.status_code} {r.text[:300]}")
                failure = f"{r.status_code} {r.text[:200]}"
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {url}: still failing after {API_PATIENCE_S:.0f}s: {failure}")
            await anyio.sleep(0.5)

    async def upload(self, session_id: str, name: str, path: Path) -> str:
        """One file through a presigned PUT (to the object store: no API in the way)."""
        data = await anyio.Path(path).read_bytes()
        ticket = await self.call(
            "POST",
            f"/v1/sessions/{session_id}/uploads",
            ok=(201,),
            json={"name": name, "content_type": "image/jpeg", "size": len(data)},
        )
        await self.call(
            "PUT", ticket["url"], ok=(200,), content=data, headers=ticket["headers"], client=self.storage
        )
        return str(ticket["key"])


# ----------------------------------------------------------------------------- the killer
class Killer:
    """SIGKILLs ``count`` processes chosen at random, each at a random point of the run: once the share of
    the session's files decided passes a random fraction (0: while the files are uploaded; near 1: while
    the saga asks for the verdicts), plus a random 0-2 s, so that the kills land inside the run however
    slow the machine is today. A chosen process that is down (restarting) is replaced by a running one."""

    def __init__(self, stack: Stack, rng: random.Random, count: int) -> None:
        assert stack.supervisor is not None
        self.supervisor = stack.supervisor
        self.rng = rng
        self.plan = sorted((rng.random(), rng.uniform(0.0, 2.0), rng.choice(TARGETS)) for _ in range(count))
        self.killed: list[str] = []

    async def run(self, progress: Callable[[], Awaitable[float]]) -> None:
        for at, delay, name in self.plan:
            while await progress() < at:  # noqa: ASYNC110  # the counters are in another process's hands
                await anyio.sleep(0.2)
            await anyio.sleep(delay)
            live = [n for n in TARGETS if self.supervisor.children[n].pid is not None]
            target = name if name in live else (self.rng.choice(live) if live else None)
            if target is not None and self.supervisor.kill(target) is not None:
                self.killed.append(target)


# ----------------------------------------------------------------------------- one run
class Session(msgspec.Struct, kw_only=True):
    """What one run did: its session, triage job, uploads and the CLI's report (or error)."""

    session_id: str | None = None
    job_id: str | None = None
    uploads: dict[str, Uploaded] = {}
    report: Report | None = None
    cli_error: str | None = None
    results: dict[str, Any] | None = None


def describe(exc: BaseException) -> str:
    """An error in a line: the first leaf of an exception group (a task group's)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def set_aside(folder_files: Sequence[str]) -> str:
    """The one of the two files with the same bytes that the CLI sets aside: the later by path."""
    return max(f for f in folder_files if f in (media.TWIN, media.TWIN_OF))


async def drive(stack: Stack, api: Api, folder: Path, out: Path, config: ChaosConfig, s: Session) -> None:
    """The user's part of a run, noted in ``s`` as it goes: the CLI's job, the triage started as soon as
    the session exists, the set-aside twin uploaded alongside, finalize, and the verdicts waited for."""
    token = stack.issuer.issue(LOCAL_USER, JOB_TOKEN_TTL_S)
    options = ProcessOptions(
        directory=folder, out=out, api=stack.api_url, token=token, timeout_s=config.job_timeout_s
    )
    await anyio.Path(out).mkdir(parents=True, exist_ok=True)
    twin = set_aside([p.relative_to(folder).as_posix() for p in media.prepare(folder)])
    twin_key = None
    with (out / "cli.log").open("w") as cli_log:
        job = Job(options, PlainUi(stream=cli_log))

        async def run_job() -> None:
            try:
                s.report = (await job.run()).report
            except Exception as exc:  # a failed job is a finding of the run, not the harness's end
                s.cli_error = describe(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_job)
            with anyio.move_on_after(120):
                while job.session_id is None and s.cli_error is None:  # noqa: ASYNC110  # the Job has no event for it
                    await anyio.sleep(0.05)
            if job.session_id is not None:
                s.session_id = job.session_id
                started = await api.call(
                    "POST", f"/v1/sessions/{s.session_id}/triage", ok=(202,), json={"expected": media.COUNT}
                )
                s.job_id = str(started["job_id"])
                twin_key = await api.upload(s.session_id, plain_name(twin), folder / twin)
    if s.session_id is None or s.job_id is None:
        return
    uploaded = state.load(out)
    s.uploads = {
        u.key: Uploaded(path, u.sha256) for path, u in (uploaded.uploads if uploaded else {}).items()
    }
    if twin_key is not None:
        s.uploads[twin_key] = Uploaded(twin, sha256_file(str(folder / twin)))
    await api.call(
        "POST",
        f"/v1/sessions/{s.session_id}/triage/{s.job_id}/finalize",
        json={"uploaded": len(s.uploads), "failed": []},
    )
    with anyio.move_on_after(config.saga_timeout_s):
        while True:
            s.results = await api.call("GET", f"/v1/sessions/{s.session_id}/triage/{s.job_id}")
            if s.results is not None and s.results["status"] in checks.TERMINAL_JOB:
                break
            await anyio.sleep(1.0)


async def saga_execution(stack: Stack, job_id: str, timeout_s: float = 60.0) -> list[str]:
    """Wait for the job's Step Functions executions to end; what is wrong with them (empty: they ended,
    the first attempt's succeeded)."""
    arn = stack.resources[stack.settings.names.state_machine("triage")]
    mine: dict[str, str] = {}
    with anyio.move_on_after(timeout_s):
        while True:
            listed = await stack.clients.sfn.list_executions(stateMachineArn=arn, maxResults=1000)
            mine = {e["name"]: e["status"] for e in listed["executions"] if e["name"].startswith(job_id)}
            if mine and "RUNNING" not in mine.values():
                break
            await anyio.sleep(1.0)
    if not mine:
        return [f"no execution of the saga for {job_id}"]
    out = [f"saga execution {n} is {st}" for n, st in sorted(mine.items()) if st == "RUNNING"]
    if mine.get(f"{job_id}-a1") not in (None, "RUNNING", "SUCCEEDED"):
        out.append(f"saga execution {job_id}-a1 ended {mine[f'{job_id}-a1']}")
    return out


class LogReader:
    """Reads the stack's processes' JSON logs as they grow (each run reads only what was added)."""

    def __init__(self, state_dir: Path, names: Sequence[str]) -> None:
        self.paths = [log_path(state_dir, n) for n in names]
        self.offsets = {p: 0 for p in self.paths}

    def mark(self) -> None:
        for p in self.paths:
            self.offsets[p] = p.stat().st_size if p.exists() else 0

    def since_mark(self) -> list[dict[str, Any]]:
        out = []
        for p in self.paths:
            if not p.exists():
                continue
            with p.open("rb") as f:
                f.seek(self.offsets[p])
                for line in f:
                    if line.startswith(b"{"):
                        with contextlib.suppress(msgspec.DecodeError):
                            out.append(msgspec.json.decode(line))
        return out


async def one_run(
    stack: Stack,
    index: int,
    work: Path,
    config: ChaosConfig,
    *,
    clean: Outcome | None,
    killer: Killer | None,
    logs: LogReader,
) -> RunResult:
    """One session under ``killer`` (None: the clean run), checked."""
    assert stack.supervisor is not None
    started = time.monotonic()
    exits_before = {n: len(c.exits) for n, c in stack.supervisor.children.items()}
    logs.mark()
    folder, out = work / "media", work / f"run-{index:03d}"
    findings = Findings()
    api = Api(stack.api_url, stack.issuer.issue(LOCAL_USER, JOB_TOKEN_TTL_S))
    s = Session()

    async def progress() -> float:
        """The share of the session's files decided (0 before the session exists)."""
        if s.session_id is None:
            return 0.0
        n = await stack.log.counters(s.session_id)
        return (n.processed + n.rejected + n.duplicate) / media.COUNT

    try:
        async with anyio.create_task_group() as tg:
            if killer is not None:
                tg.start_soon(killer.run, progress)
            try:
                await drive(stack, api, folder, out, config, s)
            except Exception as exc:  # the harness's own calls failing is the run's finding, not the end
                findings.lost.append(f"the run could not go on: {describe(exc)}")
            finally:
                tg.cancel_scope.cancel()
        wall = time.monotonic() - started
        if s.cli_error is not None:
            findings.lost.append(f"the CLI failed: {s.cli_error}")
        if s.session_id is None or s.job_id is None:
            findings.lost.append("no session or no triage job")
            return _result(index, s, wall, killer, stack, exits_before, findings)
        folder_files = sorted(p.relative_to(folder).as_posix() for p in media.prepare(folder))
        events = await stack.log.read_all(s.session_id)
        checks.check_log(events, s.uploads, findings)
        records = logs.since_mark()
        findings.handled_twice.extend(checks.handled_twice(records, s.session_id))
        died_after_commit = checks.died_after_commit(records, s.session_id)
        status = s.results["status"] if s.results else "none"
        if status != "complete":
            findings.stuck.append(f"the triage job is {status!r} after {config.saga_timeout_s:.0f}s")
        findings.stuck.extend(await saga_execution(stack, s.job_id))
        findings.views.extend(await checks.read_model_mismatches(stack.log, s.session_id))
        session = await api.call("GET", f"/v1/sessions/{s.session_id}")
        checks.check_report(s.report, folder_files, session["files"], findings)
        observed = checks.outcome(
            files=session["files"],
            results=s.results,
            counters=session["counters"],
            uploads=s.uploads,
        )
        for f in session["files"]:
            if s.uploads.get(f["key"]) is None:
                findings.lost.append(f"{f['key']}: in the session, but the run does not know it")
        if clean is not None:
            paths = {u.content: u.path for u in s.uploads.values()}
            findings.mismatches.extend(checks.compare(clean, observed, paths))
        result = _result(index, s, wall, killer, stack, exits_before, findings)
        result.outcome = observed
        result.died_after_commit = died_after_commit
        return result
    finally:
        await api.aclose()


def _result(
    index: int,
    s: Session,
    wall: float,
    killer: Killer | None,
    stack: Stack,
    exits_before: dict[str, int],
    findings: Findings,
) -> RunResult:
    assert stack.supervisor is not None
    killed = list(killer.killed) if killer is not None else []
    exits = [n for n, c in stack.supervisor.children.items() for _ in c.exits[exits_before[n] :]]
    crashes = list((Counter(exits) - Counter(killed)).elements())
    return RunResult(
        index=index,
        session_id=s.session_id,
        wall_s=round(wall, 1),
        files=len(s.uploads),
        kills=killed,
        crashes=crashes,
        findings=findings,
    )


# ----------------------------------------------------------------------------- a campaign
@contextlib.asynccontextmanager
async def chaos_stack(
    work: Path, name: str, base: Settings, config: ChaosConfig, faults: Faults
) -> AsyncIterator[Stack]:
    """A stack of processes with its state under ``work/name``."""
    stack_config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        prefix=name,
        state_dir=str(work / name),
        visibility_s=config.visibility_s,
        faults=faults,
        base=base,
    )
    async with running_stack(stack_config) as stack:
        yield stack


def line(r: RunResult) -> str:
    """One line per run (and one more per problem)."""
    kills = ", ".join(r.kills) or "none"
    crashes = f"; crashed {', '.join(r.crashes)}" if r.crashes else ""
    n = r.findings.total()
    head = f"run {r.index:3d}: {r.wall_s:6.1f} s, {r.files} files, killed {kills}{crashes}: " + (
        "ok" if n == 0 else f"{n} PROBLEM{'S' if n > 1 else ''} (session {r.session_id})"
    )
    problems = r.findings.lines()
    more = (
        [f"    ... and {len(problems) - SHOWN} more (--json has them all)"] if len(problems) > SHOWN else []
    )
    return "\n".join([head, *(f"    {x}" for x in problems[:SHOWN]), *more])


async def campaign(
    config: ChaosConfig, base: Settings, *, work: Path | None = None, out: TextIO | None = None
) -> Summary:
    """The clean run, then ``config.runs`` chaos runs, on one stack; prints a line per run."""

    def say(text: str) -> None:
        if out is not None:
            print(text, file=out, flush=True)

    started = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        if work is None:
            work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="shoebox-chaos-")))
        media.prepare(work / "media")
        armed = work / "armed"
        armed.unlink(missing_ok=True)
        faults = Faults(
            tracking=config.tracking,
            double_deliveries_s=config.double_deliveries_s,
            crash_rate=config.crash_rate,
            seed=config.seed,
            armed_by=str(armed),
        )
        clean: Outcome | None = None
        clean_wall: float | None = None
        results: list[RunResult] = []
        async with chaos_stack(work, "stack", base, config, faults) as stack:
            logs = LogReader(work / "stack", [n for n in TARGETS if n != API])
            if config.clean:
                # the stack as shipped: its faults are not armed yet, and nobody kills
                reference = await one_run(stack, 0, work, config, clean=None, killer=None, logs=logs)
                say(line(reference) + " (the clean run)")
                if reference.findings.total() or reference.outcome is None:
                    raise AssertionError("the clean run itself failed:\n" + line(reference))
                clean, clean_wall = reference.outcome, reference.wall_s
            armed.touch()
            for i in range(1, config.runs + 1):
                killer = Killer(stack, random.Random(f"{config.seed}:{i}"), config.kills)
                r = await one_run(stack, i, work, config, clean=clean, killer=killer, logs=logs)
                results.append(r)
                say(line(r))
        return Summary(
            config=config, clean_wall_s=clean_wall, runs=results, wall_s=time.monotonic() - started
        )


def run_campaign(config: ChaosConfig, base: Settings, **kw: Any) -> Summary:
    """``campaign`` from synchronous code (the CLI, the tests)."""

    async def go() -> Summary:
        return await campaign(config, base, **kw)

    return anyio.run(go)
