"""The embedded stack's supervisor: one process per worker, the relay and the API, restarted when they die.

Each child runs in a session of its own, so a Ctrl-C in the terminal (SIGINT to the foreground process
group) reaches the supervisor alone, which then stops the children in order (the API, then the workers,
which finish what they hold, then the relay, which publishes what they committed) before the stack stops
the emulator, last. A child that exits on its own (a crash, kill -9, out of memory) is started again after a
backoff that doubles with each quick death (``backoff_s`` up to ``backoff_cap_s``; a child that ran for
``stable_s`` starts the count again), and the supervisor says so on its log. If the supervisor itself is
killed, its children get SIGTERM from the kernel (PR_SET_PDEATHSIG) and stop.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec

from deploy.local.emulator import die_with_parent
from deploy.local.processes import API, RELAY, log_path, ready_path

log = logging.getLogger("shoebox.stack")


class ChildFailed(RuntimeError):
    """A child could not start (it exited before it was ready)."""


class Exit(msgspec.Struct, frozen=True):
    """One exit of a child: its code (negative: the signal that killed it) and when."""

    code: int
    at: float
    expected: bool


class Child:
    """One supervised process."""

    def __init__(self, name: str, argv: Sequence[str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.quick_deaths = 0
        self.exits: list[Exit] = []
        self.restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Starts, watches and stops the stack's processes (``deploy.local.processes``)."""

    def __init__(
        self,
        plan_path: Path,
        state_dir: Path,
        names: Sequence[str],
        *,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        stable_s: float = 30.0,
        ready_timeout_s: float = 120.0,
        stop_grace_s: float = 40.0,
    ) -> None:
        self.plan_path = plan_path
        self.state_dir = state_dir
        self.children = {
            n: Child(n, [sys.executable, "-m", "deploy.local.processes", str(plan_path), n]) for n in names
        }
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self.stable_s = stable_s
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self._stopping = False
        self._stopped = anyio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every child, wait until each is ready, then watch them until ``stop``."""
        for d in ("logs", "run"):
            (self.state_dir / d).mkdir(parents=True, exist_ok=True)
        for child in self.children.values():
            self._spawn(child)
        await self._all_ready()
        task_status.started()
        while not self._stopping:
            now = time.monotonic()
            for child in self.children.values():
                self._watch(child, now)
            await anyio.sleep(0.1)
        await self._stopped.wait()

    def _spawn(self, child: Child) -> None:
        ready_path(self.state_dir, child.name).unlink(missing_ok=True)
        child.proc = subprocess.Popen(
            child.argv,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the terminal's Ctrl-C reaches the supervisor only
            preexec_fn=die_with_parent,
        )
        child.started_at = time.monotonic()
        child.restart_at = None

    async def _all_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        waiting = dict(self.children)
        while waiting:
            for name, child in list(waiting.items()):
                if ready_path(self.state_dir, name).exists():
                    del waiting[name]
                elif child.proc is not None and (code := child.proc.poll()) is not None:
                    await self.stop()
                    raise ChildFailed(
                        f"{name} {describe_exit(code)} while starting; see {log_path(self.state_dir, name)}"
                    )
            if time.monotonic() > deadline:
                await self.stop()
                raise ChildFailed(f"not ready after {self.ready_timeout_s:.0f}s: {', '.join(waiting)}")
            await anyio.sleep(0.05)

    def _watch(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                log.warning("%s restarted (restart %d)", child.name, child.restarts)
            return
        if child.proc is None or (code := child.proc.poll()) is None:
            return
        child.exits.append(Exit(code, time.time(), expected=False))
        ran = now - child.started_at
        child.quick_deaths = 0 if ran >= self.stable_s else child.quick_deaths + 1
        delay = min(self.backoff_cap_s, self.backoff_s * 2 ** max(child.quick_deaths - 1, 0))
        child.restart_at = now + delay
        log.warning(
            "%s %s after %.1fs; restarting in %.1fs (logs: %s)",
            child.name,
            describe_exit(code),
            ran,
            delay,
            log_path(self.state_dir, child.name),
        )

    async def stop(self) -> None:
        """Stop the children in order: the API, the workers, then the relay. Each gets SIGTERM and
        ``stop_grace_s`` to finish, then SIGKILL."""
        self._stopping = True
        order = [
            [c for n, c in self.children.items() if n == API],
            [c for n, c in self.children.items() if n not in (API, RELAY)],
            [c for n, c in self.children.items() if n == RELAY],
        ]
        for group in order:
            await self._stop_group(group)
        self._stopped.set()

    async def _stop_group(self, group: list[Child]) -> None:
        live = [c for c in group if c.proc is not None and c.proc.poll() is None]
        for c in live:
            assert c.proc is not None
            c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        while any(c.proc is not None and c.proc.poll() is None for c in live):
            if time.monotonic() > deadline:
                for c in live:
                    if c.proc is not None and c.proc.poll() is None:
                        log.warning("%s did not stop within %.0fs; killing it", c.name, self.stop_grace_s)
                        c.proc.kill()
            await anyio.sleep(0.05)
        for c in live:
            assert c.proc is not None
            c.exits.append(Exit(c.proc.returncode, time.time(), expected=True))
        if live:
            log.info("stopped %s", ", ".join(c.name for c in live))

    # ------------------------------------------------------------------ for tests and chaos runs
    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` to a child (the chaos tests' kill -9); returns the pid it went to, None when the
        child was not running."""
        pid = self.children[name].pid
        if pid is not None:
            os.kill(pid, sig)
        return pid

    async def wait_running(self, name: str, *, after_restarts: int = 0, timeout_s: float = 120.0) -> None:
        """Wait until the child has been restarted ``after_restarts`` times and is ready again."""
        child = self.children[name]
        with anyio.fail_after(timeout_s):
            # the child is another process: its ready file is all there is to watch
            while child.restarts < after_restarts or not ready_path(self.state_dir, name).exists():  # noqa: ASYNC110
                await anyio.sleep(0.05)
