"""The embedded AWS emulator: moto server, in its own process (the default) or in a thread.

moto is CPU-bound Python. On 2 cores, sharing one interpreter with the workers costs throughput
(``task bench -- bus`` measures both placements), so the stack runs it as a child process that dies with
its parent (PR_SET_PDEATHSIG). Two settings matter (docs/spine.md, "The embedded emulator"):
``MOTO_PORT`` must be the server's own port, since Step Functions' service integrations call back to it,
and state machine execution is switched on through ``/moto-api/config`` (there is no environment
variable for it). The emulator answers only requests signed with its credentials (``emulator_auth.py``):
the stack's own, or fresh ones when none are given (``Emulator.credentials``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from deploy.local.credentials import Credentials
from deploy.local.emulator_auth import signed_headers


class EmulatorError(RuntimeError):
    pass


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this (child) process when its parent dies; runs between fork and exec."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def control(
    endpoint: str, credentials: Credentials, method: str, path: str, *, json: Any = None, timeout: float = 5.0
) -> httpx.Response:
    """A call to the emulator's control API (``/moto-api/...``), signed with the stack's credentials: the
    emulator answers no other (``emulator_auth.CONTROL_PATHS``)."""
    body = b"" if json is None else httpx.Request("POST", endpoint, json=json).content
    url = f"{endpoint}{path}"
    headers = {"Content-Type": "application/json"} if json is not None else {}
    headers = signed_headers(credentials, method, url, body=body, headers=headers)
    return httpx.request(method, url, content=body, headers=headers, timeout=timeout)


def configure(endpoint: str, credentials: Credentials) -> None:
    """Switch on what the stack needs from moto (idempotent; survives /moto-api/reset)."""
    control(
        endpoint,
        credentials,
        "POST",
        "/moto-api/config",
        json={"stepfunctions": {"execute_state_machine": True}},
    ).raise_for_status()


def wait_ready(
    endpoint: str,
    credentials: Credentials,
    timeout_s: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: str | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = _tail(log_path)
            raise EmulatorError(f"moto server for {endpoint} exited with code {proc.returncode}{tail}")
        try:
            status = control(endpoint, credentials, "GET", "/moto-api/", timeout=1).status_code
        except httpx.HTTPError:
            status = None
        if status == 403:
            # another server on the port, or one that was given other credentials
            raise EmulatorError(
                f"the emulator on {endpoint} refused the stack's credentials{_tail(log_path)}"
            )
        if status is not None and status < 500:
            return
        time.sleep(0.05)
    raise EmulatorError(f"moto server did not answer on {endpoint} within {timeout_s:.0f}s")


def _tail(path: str | None, lines: int = 5) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            text = f.read()[-4000:].decode(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return (": " + " | ".join(text)) if text else ""


class Emulator:
    """A running moto server."""

    def __init__(
        self,
        port: int,
        *,
        in_process: bool = False,
        log_path: str | None = None,
        state_dir: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.port = port
        #: the only credentials the emulator accepts (fresh ones unless given: the stack gives its own)
        self.credentials = credentials or Credentials.generate()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.in_process = in_process
        self.log_path = log_path
        #: where the emulator keeps its state across restarts (docs/persistence.md); None: memory only
        self.state_dir = state_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._server: Any = None

    def start(self) -> Emulator:
        """Spawn and wait until ready (blocking). From async code: ``spawn()`` on the event loop's thread,
        then ``ready()`` in a worker thread (see ``spawn``)."""
        self.spawn()
        self.ready()
        return self

    def spawn(self) -> None:
        """Start the server without waiting for it.

        Call this on a thread that lives as long as the emulator should: the child is sent SIGTERM when
        the thread that forked it exits (Linux's parent-death signal is per thread), which is what makes
        it die with a killed parent, and what would kill it early if a pooled worker thread spawned it.
        """
        if port_in_use(self.port):
            raise EmulatorError(f"port {self.port} is already in use")
        if self.in_process:
            os.environ["MOTO_PORT"] = str(self.port)
            from deploy.local import moto_patches, moto_server

            moto_patches.apply()
            if self.state_dir is not None:
                from deploy.local import moto_persistence

                moto_persistence.install(Path(self.state_dir))
            server = moto_server.make_server("127.0.0.1", self.port, self.credentials)
            threading.Thread(target=server.run, name="emulator", daemon=True).start()
            self._server = server
            return
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        state = ["--state", self.state_dir] if self.state_dir is not None else []
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deploy.local.moto_server",
                *state,
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            env={
                **os.environ,
                "MOTO_PORT": str(self.port),
                # moto adds ``Access-Control-Allow-Origin: *`` to every answer without it
                "MOTO_DISABLE_GLOBAL_CORS": "true",
                # the only credentials it accepts (the environment of a process is its user's alone)
                **self.credentials.environment(),
            },
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            # a session of its own: a Ctrl-C in the terminal reaches the stack, which stops it last
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def ready(self) -> None:
        """Wait until the server answers, then switch on what the stack needs (blocking)."""
        wait_ready(self.endpoint, self.credentials, proc=self._proc, log_path=self.log_path)
        configure(self.endpoint, self.credentials)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else os.getpid()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        if self._server is not None:
            self._server.close()
            self._server = None
