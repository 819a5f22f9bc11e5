"""`shoebox up` killed with SIGKILL, every process of it (the emulator too), and started again on its state
folder: the session is there with its files and counters, an upload the stack had accepted but not decided
is decided, the triage saga that was waiting for it ends, and the work folders the dead run left are gone
(docs/persistence.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.local.emulator import free_port
from services.api.auth import LocalIssuer
from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.wait import eventually

pytestmark = [pytest.mark.stack, pytest.mark.slow]

EMULATOR = "deploy.local.moto_server"
PHOTOS = ("photos/gps/DSCN0010.jpg", "photos/gps/DSCN0012.jpg", "photos/cameras/Canon_40D.jpg")


def _up(state: Path, emulator: int, api: int, log: Path) -> subprocess.Popen[bytes]:
    """``shoebox up``, as from a terminal of its own."""
    argv = [sys.executable, "-m", "shoebox_cli.main", "up", "--state-dir", str(state)]
    argv += ["--emulator-port", str(emulator), "--api-port", str(api)]
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)


def _healthy(api: str, proc: subprocess.Popen[bytes]) -> None:
    def probe() -> bool:
        assert proc.poll() is None, "shoebox up exited early"
        try:
            return httpx.get(f"{api}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(probe, 120, what="the stack to answer", interval_s=0.1)


def _tree(root: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of ``root`` and every process under it (the emulator runs in a session of
    its own, so the process group is not the tree)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            commands[int(stat.parent.name)] = (
                (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            )
        except (OSError, ValueError):
            continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return [(pid, commands.get(pid, "")) for pid in tree]


def _kill_tree(tree: list[tuple[int, str]]) -> None:
    """SIGKILL every process of ``tree``, the emulator first (so it is killed, not stopped by its parent's
    death signal)."""
    for pid, _ in sorted(tree, key=lambda p: EMULATOR not in p[1]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _session(api: str, sid: str, h: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"{api}/v1/sessions/{sid}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _decided(api: str, sid: str, h: dict[str, str], n: int) -> dict[str, Any] | None:
    """The session once ``n`` of its files are decided (an undecided one may be listed as pending)."""
    body = _session(api, sid, h)
    decided = [f for f in body["files"] if f["status"] in ("processed", "rejected", "duplicate")]
    return body if len(decided) >= n else None


def test_a_killed_stack_starts_again_with_everything_and_ends_what_was_running(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "up.log"
    emulator_port, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    photos = [(TESTDATA / p).read_bytes() for p in PHOTOS]

    proc = _up(state, emulator_port, api_port, log)
    try:
        _healthy(api, proc)
        h = {"Authorization": f"Bearer {LocalIssuer.load(state).issue('alice', 3600)}"}
        sid = new_session(api, headers=h)
        r = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": 3}, headers=h)
        assert r.status_code == 202, r.text
        job = r.json()["job_id"]
        for i, data in enumerate(photos[:2]):
            upload(api, sid, f"photo{i}.jpg", data, headers=h)
        before = eventually(lambda: _decided(api, sid, h, 2), 120, what="two files to be decided")

        # the third upload is accepted by S3 while every other process of the stack is frozen: at the kill
        # it is uploaded, announced and undecided, and the saga is still waiting for it
        r = httpx.post(
            f"{api}/v1/sessions/{sid}/uploads",
            json={"name": "photo2.jpg", "content_type": "image/jpeg", "size": len(photos[2])},
            headers=h,
        )
        assert r.status_code == 201, r.text
        ticket = r.json()
        tree = _tree(proc.pid)
        frozen = [pid for pid, cmd in tree if EMULATOR not in cmd]
        assert len(frozen) < len(tree), "the emulator runs as a process of its own"
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        put = httpx.put(ticket["url"], content=photos[2], headers=ticket["headers"])
        assert put.status_code == 200, put.text
    finally:
        _kill_tree(_tree(proc.pid))
        proc.wait(30)
    # what a kill in the middle of processing leaves in the stack's own temporary folder
    leftover = state / "tmp" / "shoebox-media-leftover"
    leftover.mkdir(parents=True)
    (leftover / "frame.jpg").write_bytes(b"half")

    proc = _up(state, emulator_port, api_port, log)
    try:
        _healthy(api, proc)
        after = _session(api, sid, h)  # 404 when the state was not kept
        decided_before = {f["name"] for f in before["files"] if f["status"] == "processed"}
        assert len(decided_before) == 2
        assert [f for f in after["files"] if f["name"] in decided_before] == [
            f for f in before["files"] if f["name"] in decided_before
        ]
        assert after["counters"]["expected"] == 3
        assert not leftover.exists()

        done = eventually(lambda: _decided(api, sid, h, 3), 120, what="the undecided upload to be decided")
        assert [f["status"] for f in done["files"]] == ["processed"] * 3
        assert done["counters"]["processed"] == 3

        def triage_ended() -> dict[str, Any] | None:
            r = httpx.get(f"{api}/v1/sessions/{sid}/triage/{job}", headers=h)
            assert r.status_code == 200, r.text
            return dict(r.json()) if r.json()["status"] in ("complete", "error") else None

        results = eventually(triage_ended, 120, what="the triage saga to end")
        assert results["status"] == "complete"
        assert len(results["keep"]) + len(results["discard"]) == 3
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            _kill_tree(_tree(proc.pid))
            raise
