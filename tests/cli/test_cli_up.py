"""`shoebox up` in the foreground: Ctrl-C (or SIGTERM) stops everything and leaves no process behind;
a second `up` says a stack is running instead of failing on a port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from deploy.local.emulator import free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(tmp_path: Path, emulator: int, api: int, *, log: Path | None = None) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "shoebox_cli.main",
        "up",
        "--emulator-port",
        str(emulator),
        "--api-port",
        str(api),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    if log is None:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # a file never fills up like a pipe; the child keeps its own copy of the descriptor
    with open(log, "w") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out, text=True, env=env)


def _wait_healthy(api: int, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    def healthy() -> bool:
        assert proc.poll() is None, "shoebox up exited early"
        try:
            return httpx.get(f"http://127.0.0.1:{api}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(healthy, timeout_s, what="the stack to become healthy", interval_s=0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_up_stops_cleanly_on_a_signal_and_leaves_no_process(tmp_path: Path, sig: signal.Signals) -> None:
    emulator, api = free_port(), free_port()
    proc = _start(tmp_path, emulator, api, log=tmp_path / "up.log")
    try:
        _wait_healthy(api, proc)
        children = _children(proc.pid)
        assert children, "the emulator runs as a child process"

        second = _start(tmp_path, free_port(), free_port())
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "already running" in err and f"127.0.0.1:{api}" in err and "Traceback" not in err

        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    eventually(
        lambda: not any(_alive(c) for c in children),
        10,
        what="no child process of `shoebox up` to outlive it",
    )
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{emulator}/moto-api/", timeout=1)


def _process_of(up: int, name: str) -> int | None:
    """The pid of the stack's process ``name`` (``worker:media_process``, ``relay``, ``api``)."""
    for pid in _children(up):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if name.encode() in argv and _alive(pid):
            return pid
    return None


def test_ctrl_c_in_a_terminal_stops_the_processes_in_order_and_the_emulator_last(tmp_path: Path) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole foreground process group. The stack's processes and
    its emulator each run in a session of their own, so only ``shoebox up`` gets it, and it stops the API,
    the workers, the relay, then the emulator, with no traceback. Before that, a worker killed with -9 is
    started again and ``up`` says so."""
    emulator, api = free_port(), free_port()
    log = tmp_path / "up.log"
    argv = [sys.executable, "-m", "shoebox_cli.main", "up", "--emulator-port", str(emulator)]
    argv += ["--api-port", str(api), "--state-dir", str(tmp_path / "state")]
    env = {**os.environ, "NO_COLOR": "1", "SHOEBOX_LOG_FORMAT": "text"}
    with open(log, "w") as out:  # a process group of its own, as a shell gives a foreground job
        proc = subprocess.Popen(argv, stdout=out, stderr=out, text=True, env=env, start_new_session=True)
    try:
        _wait_healthy(api, proc)
        worker = eventually(
            lambda: _process_of(proc.pid, "worker:media_process"), 30, what="media_process's worker"
        )
        os.kill(worker, signal.SIGKILL)
        eventually(
            lambda: (_process_of(proc.pid, "worker:media_process") or worker) != worker or None,
            30,
            what="the worker started again",
        )
        eventually(lambda: "restarting in" in log.read_text() or None, 10, what="up to say so")
        children = _children(proc.pid)

        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "worker:media_process killed by SIGKILL" in text and "restarted (restart 1)" in text
    assert "Traceback" not in text and "CancelledError" not in text, text[-3000:]
    order = [
        text.index("stopped api"),
        text.index("stopped worker:"),
        text.index("stopped relay"),
        text.index("stopping the AWS emulator"),
    ]
    assert order == sorted(order), text[-3000:]
    eventually(lambda: not any(_alive(c) for c in children), 10, what="no child of `shoebox up` left")
