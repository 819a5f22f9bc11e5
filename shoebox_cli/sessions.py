"""``shoebox status SESSION`` and ``shoebox events SESSION``: a session as the API shows it, readable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shoebox_cli.client import ApiClient, LogEvent, SessionStatus

DEFAULT_API = "http://127.0.0.1:8000"
_STATUS_STYLE = {"processed": "green", "rejected": "red", "duplicate": "yellow", "pending": "cyan"}


def default_api(state_dir: Path = Path(".shoebox")) -> str:
    """The running stack's API (``shoebox up`` writes it to ``.shoebox/stack.json``), else port 8000."""
    from deploy.local.stack import read_info

    info = read_info(state_dir)
    return info.api_url if info is not None else DEFAULT_API


def _console() -> Console:
    """The terminal's width on a terminal; wide enough for a log line when written to a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _size(n: object) -> str:
    if not isinstance(n, int):
        return ""
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


async def show_status(
    api: str,
    session_id: str,
    *,
    token: str | None = None,
    as_json: bool = False,
    console: Console | None = None,
) -> None:
    async with ApiClient(api, token=token) as client:
        status, _ = await client.session(session_id)
    assert status is not None
    if as_json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(status), indent=2).decode() + "\n")
        return
    render_status(status, console or _console())


def render_status(status: SessionStatus, console: Console) -> None:
    c = status.counters
    console.print(
        f"[bold]Session {escape(status.session_id)}[/] · {escape(status.context or '(no context)')}"
        f" · created {escape(status.created_at)}"
    )
    console.print(
        f"expected {c.expected} · [cyan]pending {c.pending}[/] · [green]processed {c.processed}[/]"
        f" · [red]rejected {c.rejected}[/] · [yellow]duplicate {c.duplicate}[/] · deleted {c.deleted}"
    )
    if not status.files:
        console.print("No files yet.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("file", "status", "kind", "type", "size", "detail"):
        table.add_column(column, overflow="fold")
    for f in sorted(status.files, key=lambda f: f.name):
        detail = (
            f"{f.code}: {f.message}"
            if f.status == "rejected"
            else f"same bytes as {f.duplicate_of}"
            if f.status == "duplicate"
            else "uploaded; not checked yet"
            if f.status == "pending"
            else f.captured_at or ""
        )
        style = _STATUS_STYLE.get(f.status, "")
        table.add_row(
            escape(f.name),
            f"[{style}]{escape(f.status)}[/]" if style else escape(f.status),
            escape(f.kind or ""),
            escape(f.media_type or ""),
            _size(f.size),
            escape(detail),
        )
    console.print(table)


async def show_events(
    api: str,
    session_id: str,
    *,
    token: str | None = None,
    as_json: bool = False,
    console: Console | None = None,
) -> None:
    console = console or _console()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("subject", overflow="fold", max_width=40)
    table.add_column("summary", overflow="fold", ratio=1)
    n = 0
    async with ApiClient(api, token=token) as client:
        async for event in client.all_events(session_id):
            n += 1
            if as_json:
                sys.stdout.write(msgspec.json.encode(event).decode() + "\n")
                continue
            table.add_row(
                str(event.sequence),
                escape(_time(event.time)),
                escape(_short_type(event.type)),
                escape(subject(event)),
                escape(summary(event)),
            )
    if not as_json:
        console.print(table)
        console.print(f"{n} event{'' if n == 1 else 's'}")


def _time(value: str) -> str:
    return value.replace("T", " ").removesuffix("Z").split("+")[0][:23]


def _short_type(type_name: str) -> str:
    return type_name.removeprefix("shoebox.")


def _get(data: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def subject(event: LogEvent) -> str:
    d = event.data
    key = _get(d, "file", "key") or _get(d, "key")
    if isinstance(key, str):
        return key.rsplit("/", 1)[-1]
    job = _get(d, "job_id")
    if isinstance(job, str):
        return job
    return event.subject or ""


def summary(event: LogEvent) -> str:
    """A short line saying what the event says."""
    d = event.data
    family = event.type.rsplit(".v", 1)[0]
    if family == "shoebox.session.created":
        context = _get(d, "trip", "context") or _get(d, "context") or ""
        return f"“{context}”"
    if family == "shoebox.media.file.processed":
        return " ".join(
            str(x) for x in (_get(d, "kind"), _get(d, "media_type"), _size(_get(d, "file", "size"))) if x
        )
    if family == "shoebox.media.file.rejected":
        return f"{_get(d, 'code')}: {_get(d, 'message')}"
    if family == "shoebox.media.file.duplicate":
        return f"same bytes as {_get(d, 'duplicate_of')}"
    if family == "shoebox.upload.received":
        return f"uploaded {_size(_get(d, 'size'))}: pending until it is checked"
    scalars = [f"{k}={v}" for k, v in d.items() if isinstance(v, str | int | float | bool) and k != "job_id"]
    text = ", ".join(scalars)
    return text if len(text) <= 100 else text[:99] + "…"
