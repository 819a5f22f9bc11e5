"""A sampling profiler for the stack's processes, started from ``sitecustomize`` (``scale --profile``).

py-spy is not installed and cProfile sees one thread (moto answers each request on a thread of its own, the
workers run handlers in threads), so this samples every thread's Python stack (``sys._current_frames``)
every ``interval_s`` and weights each thread's stack by the CPU ticks the thread used since the previous
sample (``/proc/self/task/TID/stat``): an idle thread weighs nothing, whatever its stack. The result is CPU
seconds by function, self (the innermost Python frame, C calls included) and inclusive, and the heaviest
collapsed stacks. CPU of threads Python does not know (libvips' own workers) is the process's CPU minus
what the samples attribute.

It writes ``DIR/<what>-<pid>.json`` every few seconds and at exit, so a process stopped by a signal
leaves its figures up to its last write. Nothing here runs unless ``SCALE_PROFILE_DIR`` names the folder.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")
ENV = "SCALE_PROFILE_DIR"
_TOP_FUNCTIONS, _TOP_STACKS, _DEPTH = 80, 60, 40


def _ticks(native_id: int) -> int | None:
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


_ROOT = f"{Path(__file__).resolve().parents[1]}/"
_LIB = re.compile(r"^.*/(?:site-packages|lib/python3\.\d+)/")


def _where(frame: FrameType) -> str:
    """``path:function``, the path relative to the repository, site-packages or the standard library."""
    path = frame.f_code.co_filename
    library = _LIB.sub("", path)  # the virtualenv may live inside the repository: libraries first
    path = library if library != path else path[len(_ROOT) :] if path.startswith(_ROOT) else path
    return f"{path}:{frame.f_code.co_name}"


def what_runs(argv: list[str]) -> str:
    """A file-name-safe name of what this process runs: the ``-m`` module, the script or the command."""
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        name = argv[argv.index("-m") + 1]
    elif "-c" in argv:
        name = "python-c"
    else:
        name = " ".join(os.path.basename(a) for a in argv[1:3]) or "python"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


class Profiler:
    def __init__(self, out_dir: Path, interval_s: float = 0.02, write_every_s: float = 5.0) -> None:
        self.path = out_dir / f"{what_runs(list(sys.orig_argv))}-{os.getpid()}.json"
        self.interval_s = interval_s
        self.write_every_s = write_every_s
        self.self_ticks: Counter[str] = Counter()
        self.inclusive_ticks: Counter[str] = Counter()
        self.stacks: Counter[str] = Counter()
        self.samples = 0
        self._last: dict[int, int] = {}
        self._started = time.monotonic()
        self._cpu0 = os.times()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="scale-profiler", daemon=True).start()
        atexit.register(self.write)

    def _loop(self) -> None:
        me = threading.get_ident()
        last_write = time.monotonic()
        while True:
            time.sleep(self.interval_s)
            natives = {t.ident: t.native_id for t in threading.enumerate()}
            with self._lock:
                self.samples += 1
                for ident, frame in sys._current_frames().items():
                    native = natives.get(ident)
                    if ident == me or native is None:
                        continue
                    ticks = _ticks(native)
                    if ticks is None:
                        continue
                    # a thread there at the first sample counts from then; one started since (moto
                    # answers each connection on a new thread), from its start
                    used = ticks - self._last.get(native, ticks if self.samples == 1 else 0)
                    self._last[native] = ticks
                    if used > 0:
                        self._add(frame, used)
                # forget threads that ended: the kernel reuses their ids for new ones
                self._last = {n: v for n, v in self._last.items() if n in natives.values()}
            if time.monotonic() - last_write >= self.write_every_s:
                self.write()
                last_write = time.monotonic()

    def _add(self, frame: FrameType, ticks: int) -> None:
        names: list[str] = []
        f: FrameType | None = frame
        while f is not None:
            names.append(_where(f))
            f = f.f_back
        self.self_ticks[names[0]] += ticks
        for name in set(names):
            self.inclusive_ticks[name] += ticks
        self.stacks[";".join(reversed(names[:_DEPTH]))] += ticks

    def write(self) -> None:
        with self._lock:
            t = os.times()
            cpu = (t.user - self._cpu0.user) + (t.system - self._cpu0.system)
            attributed = sum(self.self_ticks.values()) / _TICK
            data = {
                "argv": list(sys.orig_argv),
                "pid": os.getpid(),
                "wall_s": round(time.monotonic() - self._started, 1),
                "cpu_s": round(cpu, 2),
                "cpu_s_python_threads": round(attributed, 2),
                "samples": self.samples,
                "self_s": {k: round(v / _TICK, 2) for k, v in self.self_ticks.most_common(_TOP_FUNCTIONS)},
                "inclusive_s": {
                    k: round(v / _TICK, 2) for k, v in self.inclusive_ticks.most_common(_TOP_FUNCTIONS)
                },
                "stacks_s": {k: round(v / _TICK, 2) for k, v in self.stacks.most_common(_TOP_STACKS)},
            }
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)


def start_from_env() -> None:
    """Start profiling this process when ``SCALE_PROFILE_DIR`` is set (called by the ``sitecustomize``
    that ``scale --profile`` puts on the stack's ``PYTHONPATH``)."""
    out = os.environ.get(ENV)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Profiler(Path(out)).start()


SITECUSTOMIZE = """\
# written by benchmarks/scale.py --profile: profiles every Python process of the measured stack
try:
    from benchmarks._stackprof import start_from_env

    start_from_env()
except Exception as exc:  # a profiler that cannot start must not stop the stack
    import sys

    print(f"scale profiler: not started: {exc!r}", file=sys.stderr)
"""


def load(out_dir: Path) -> list[dict[str, Any]]:
    """Every profile written under ``out_dir``."""
    found = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


__all__ = ["ENV", "SITECUSTOMIZE", "Profiler", "load", "start_from_env", "what_runs"]
