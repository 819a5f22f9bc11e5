"""Memory and CPU of process trees, sampled from ``/proc`` in a thread (Linux only; no psutil: the
benchmarks run with the stack's dependencies).

Every ``interval_s`` the sampler lists ``/proc``, keeps each process descended from (or equal to) a root,
and reads its resident set (``statm``) and CPU time (``stat``). The figures are the sum of RSS over the
tree at each sample (shared pages, e.g. libraries, are counted once per process, as ``ps`` and ``top``
count them), its peak, and each role's peak and CPU seconds. A role is what a process is, from its
command line (``label_of``): the emulator, ``shoebox up``, ``shoebox process``, a child of either.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


class Sample(msgspec.Struct, frozen=True, array_like=True):
    t: float  # seconds since the sampler started
    total: int  # bytes: the sum of RSS over every process of the trees
    by_label: dict[str, int]
    cpu_s: float  # CPU seconds the trees used since the sampler started (exited processes included)


class Seen(msgspec.Struct):
    label: str
    first_cpu_s: float
    cpu_s: float
    peak_rss: int


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid``, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw.rsplit(b")", 1)[1].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _rss(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def short_command(argv: list[str]) -> str:
    """What a command line runs, in a few words: the module of ``-m``, else the program (and script)."""
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        return argv[argv.index("-m") + 1]
    if "-c" in argv:
        code = argv[argv.index("-c") + 1] if argv.index("-c") + 1 < len(argv) else ""
        return "multiprocessing child" if "multiprocessing" in code else "python -c"
    names = [os.path.basename(a) for a in argv[:2]]
    if names and names[0].startswith("python") and len(names) > 1:
        return names[1]
    return names[0] if names else "?"


class TreeSampler:
    """``start()``, then ``stop()``: samples of the trees under ``roots`` (name -> pid) every ``interval_s``.

    ``label_of(pid, argv, root_name)`` names a process's role (default: the root's name for the root,
    ``"<root name>: <short command>"`` for its descendants). Processes that exit between samples keep the
    CPU time they were last seen with.
    """

    def __init__(
        self,
        roots: Mapping[str, int],
        *,
        interval_s: float = 0.2,
        label_of: Callable[[int, list[str], str], str] | None = None,
    ) -> None:
        self.roots = dict(roots)
        self.interval_s = interval_s
        self.label_of = label_of or self._default_label
        self.samples: list[Sample] = []
        self.seen: dict[tuple[int, str], Seen] = {}  # (pid, label): a pid reused later is another process
        self._labels: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)
        self._t0 = 0.0
        #: ``time.time()`` when the sampler started: maps a sample's ``t`` to a wall-clock time
        self.started_unix = 0.0
        self.sample_cost_s: list[float] = []

    def add_root(self, name: str, pid: int) -> None:
        """Follow another tree from the next sample on (e.g. a process started after ``start``)."""
        self.roots[name] = pid

    def start(self) -> TreeSampler:
        self._t0 = time.perf_counter()
        self.started_unix = time.time()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    @staticmethod
    def _default_label(pid: int, argv: list[str], root: str) -> str:
        return root

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            with contextlib.suppress(Exception):  # a sample lost to a race is no reason to stop sampling
                self.sample()
            self.sample_cost_s.append(time.perf_counter() - started)
            self._stop.wait(max(0.0, self.interval_s - (time.perf_counter() - started)))

    def sample(self) -> Sample:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                st = _stat(int(entry.name))
                if st is not None:
                    parents[int(entry.name)], cpu[int(entry.name)] = st
        by_label: dict[str, int] = {}
        total = 0
        roots = {p: name for name, p in self.roots.items()}
        first = not self.samples
        for pid in parents:
            root = self._root_of(pid, parents, roots)
            if root is None:
                continue
            rss = _rss(pid)
            if rss is None:
                continue
            label = self._labels.get(pid)
            if label is None:
                label = self._labels[pid] = self.label_of(pid, cmdline(pid), root)
            total += rss
            by_label[label] = by_label.get(label, 0) + rss
            seen = self.seen.get((pid, label))
            if seen is None:
                # a process there at the first sample counts from then; one started later, from its start
                self.seen[(pid, label)] = Seen(label, cpu[pid] if first else 0.0, cpu[pid], rss)
            else:
                seen.cpu_s = cpu[pid]
                seen.peak_rss = max(seen.peak_rss, rss)
        used = sum(seen.cpu_s - seen.first_cpu_s for seen in self.seen.values())
        s = Sample(round(time.perf_counter() - self._t0, 3), total, by_label, round(used, 2))
        self.samples.append(s)
        return s

    @staticmethod
    def _root_of(pid: int, parents: Mapping[int, int], roots: Mapping[int, str]) -> str | None:
        """The name of the root ``pid`` descends from (or is), None when it is outside every tree."""
        for _ in range(64):  # a bound, in case a pid is reused into a loop between two reads
            if pid in roots:
                return roots[pid]
            if pid <= 1:
                return None
            pid = parents.get(pid, 0)
        return None

    # ------------------------------------------------------------------ figures
    def peak(self) -> Sample | None:
        return max(self.samples, key=lambda s: s.total, default=None)

    def label_peaks(self) -> dict[str, int]:
        """Each role's peak (the sum over its processes at one sample, highest over the samples)."""
        peaks: dict[str, int] = {}
        for s in self.samples:
            for label, rss in s.by_label.items():
                peaks[label] = max(peaks.get(label, 0), rss)
        return peaks

    def label_cpu_s(self) -> dict[str, float]:
        """CPU seconds each role used while it was sampled."""
        out: dict[str, float] = {}
        for seen in self.seen.values():
            out[seen.label] = out.get(seen.label, 0.0) + seen.cpu_s - seen.first_cpu_s
        return {k: round(v, 1) for k, v in sorted(out.items())}

    def cpu_at(self, unix_time: float) -> float | None:
        """The trees' CPU seconds used by ``unix_time`` (linear between the samples around it)."""
        t = unix_time - self.started_unix
        before = [s for s in self.samples if s.t <= t]
        after = [s for s in self.samples if s.t >= t]
        if not before or not after:
            return None
        a, b = before[-1], after[0]
        if b.t == a.t:
            return a.cpu_s
        return a.cpu_s + (b.cpu_s - a.cpu_s) * (t - a.t) / (b.t - a.t)

    def series(self, every_s: float = 5.0) -> list[list[float]]:
        """[t s, total MiB, CPU s used] about every ``every_s`` (for the JSON: how memory and CPU grew)."""
        out: list[list[float]] = []
        next_t = 0.0
        for s in self.samples:
            if s.t >= next_t:
                out.append([round(s.t, 1), round(s.total / MIB, 1), s.cpu_s])
                next_t = s.t + every_s
        return out
