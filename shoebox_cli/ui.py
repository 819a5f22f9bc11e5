"""What the person at the terminal sees while a job runs: rich progress bars on a terminal, plain lines
otherwise (CI logs, pipes). Progress and per-file problems go to stderr; results go to stdout."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Protocol, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Ui(Protocol):
    def __enter__(self) -> Ui: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def phase(self, name: str, label: str, total: int, completed: int = 0) -> None:
        """Start (or re-total) a phase's bar."""

    def advance(self, name: str, by: int = 1) -> None: ...

    def done(self, name: str, summary: str) -> None:
        """The phase ended; ``summary`` says how."""

    def problem(self, path: str, what: str) -> None:
        """A file failed or was rejected: shown at once, above the bars."""

    def note(self, message: str) -> None: ...


class RichUi:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description:<11}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichUi:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def phase(self, name: str, label: str, total: int, completed: int = 0) -> None:
        if name in self._tasks:
            self.progress.update(self._tasks[name], total=total, description=label)
        else:
            self._tasks[name] = self.progress.add_task(label, total=total, completed=completed)

    def advance(self, name: str, by: int = 1) -> None:
        if name in self._tasks:
            self.progress.advance(self._tasks[name], by)

    def done(self, name: str, summary: str) -> None:
        if name in self._tasks:
            task = self._tasks[name]
            total = self.progress.tasks[task].total or 0
            self.progress.update(task, completed=max(total, self.progress.tasks[task].completed))
            self.progress.stop_task(task)
        self.console.print(f"[dim]{escape(summary)}[/]")

    def problem(self, path: str, what: str) -> None:
        self.console.print(f"[red]✗[/] [bold]{escape(path)}[/]: {escape(what)}")

    def note(self, message: str) -> None:
        self.console.print(escape(message))


class PlainUi:
    """One line per event; a progress line per phase at most every ``every_s`` seconds."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self._phases: dict[str, list[float]] = {}  # name -> [done, total, last printed at]
        self._labels: dict[str, str] = {}

    def __enter__(self) -> PlainUi:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stream.flush()

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def phase(self, name: str, label: str, total: int, completed: int = 0) -> None:
        if name in self._phases:  # re-totalled or relabelled (the enhancement names its phases)
            self._phases[name][1] = total
            self._labels[name] = label
            return
        self._phases[name] = [completed, total, time.monotonic()]
        self._labels[name] = label
        self._print(f"{label}: {total} file{'' if total == 1 else 's'}")

    def advance(self, name: str, by: int = 1) -> None:
        state = self._phases.get(name)
        if state is None:
            return
        state[0] += by
        now = time.monotonic()
        if now - state[2] >= self.every_s:
            state[2] = now
            self._print(f"{self._labels[name]}: {int(state[0])}/{int(state[1])}")

    def done(self, name: str, summary: str) -> None:
        self._print(summary)

    def problem(self, path: str, what: str) -> None:
        self._print(f"! {path}: {what}")

    def note(self, message: str) -> None:
        self._print(message)


def make_ui(plain: bool | None = None) -> RichUi | PlainUi:
    """Rich bars on a terminal, plain lines otherwise (or as asked)."""
    console = Console(stderr=True)
    if plain is None:
        plain = not console.is_terminal
    return PlainUi() if plain else RichUi(console)
