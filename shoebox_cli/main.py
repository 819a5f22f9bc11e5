"""The ``shoebox`` command.

    shoebox up                       the embedded stack in the foreground (Ctrl-C stops it)
    shoebox process DIR --out OUT    a folder of trip media -> OUT/report.json, OUT/report.html, OUT/enhanced/
    shoebox demo                     ``process`` on sample media
    shoebox status SESSION           a session's counters and files
    shoebox events SESSION           a session's event log
    shoebox rebuild-views SESSION…   fold sessions' read models again from their logs (or --all)
    shoebox dev-token                a bearer token for the local stack (for curl and other clients)

Tokens: ``--token`` when given; against an API on this machine (``--api http://127.0.0.1:…``) without one,
the commands mint a token from the local stack's key in ``--state-dir`` (``.shoebox``, where ``shoebox up``
keeps it); ``process`` and ``demo`` without ``--api`` start their own stack and use its issuer.

Exit codes: 0 the command ran (rejected files are results), 1 it could not run (one line on stderr says
why), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from shoebox_cli.process import Job, Outcome, ProcessOptions

REPO_ROOT = Path(__file__).resolve().parents[1]
#: the shared sample media beside the repository (``../shared/testdata``), used by ``demo`` when present
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"
DEFAULT_OUT = Path("shoebox-out")
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class CommandError(Exception):
    """A command could not run; one line for the person."""


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _select(value: str) -> int | None:
    """``process --select``: a count (0: none), or ``all`` (None)."""
    from shoebox_cli.steps import parse_select

    try:
        return parse_select(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _token_lifetime(value: str) -> int:
    """``dev-token --ttl``: at most the week the API accepts (a token cannot be revoked, so it must run
    out on its own)."""
    from services.api.auth import MAX_TOKEN_LIFETIME_S

    n = _positive_int(value)
    if n > MAX_TOKEN_LIFETIME_S:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_TOKEN_LIFETIME_S} s (7 days), not {n}: a token cannot be revoked, so it must run "
            "out on its own; mint a new one when it does"
        )
    return n


def _local_user(value: str) -> str:
    """``dev-token --sub``: a name the page's local sign-in would take too; never empty (an empty name
    used to become ``local`` without a word, handing out the default user's sessions)."""
    from services.api.auth import LOCAL_SUB_MAX, LOCAL_SUB_PATTERN

    if not value.strip():
        raise argparse.ArgumentTypeError(
            "the user name is empty; leave --sub out for the default user 'local'"
        )
    if len(value) > LOCAL_SUB_MAX or not re.match(LOCAL_SUB_PATTERN, value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a user name here: at most {LOCAL_SUB_MAX} letters, digits, '.', '_', '@' or "
            "'-', starting with a letter or digit"
        )
    return value


def _positive_float(value: str) -> float:
    x = float(value)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
    return x


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shoebox",
        description="Shoebox: from a pile of trip photos and videos to something worth posting.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the embedded AWS stack, every worker, the relay and the API")
    up.add_argument("--emulator-port", type=int, default=4566, help="the AWS emulator's port (default 4566)")
    up.add_argument("--api-port", type=int, default=8000, help="the HTTP API's port (default 8000)")
    up.add_argument(
        "--state-dir",
        default=".shoebox",
        help="where the stack keeps its state (sessions, uploads, events, queues: kept across restarts), "
        "lock and logs",
    )
    up.add_argument(
        "--fresh", action="store_true", help="forget the state kept in --state-dir and start empty"
    )

    def job_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--out", type=Path, default=DEFAULT_OUT, help="where the report goes (default ./shoebox-out)"
        )
        p.add_argument(
            "--api",
            help="use the Shoebox API at this URL (e.g. a `shoebox up`) instead of starting "
            "an embedded stack for the job; running again resumes the same session",
        )
        p.add_argument(
            "--token",
            help="bearer token for --api (default for a local --api: one minted from --state-dir's stack)",
        )
        p.add_argument(
            "--state-dir",
            type=Path,
            default=Path(".shoebox"),
            help="the local stack's state folder; its key signs tokens for a local --api (default .shoebox)",
        )
        p.add_argument("--concurrency", type=_positive_int, default=4, help="uploads in flight (default 4)")
        p.add_argument(
            "--timeout",
            type=_positive_float,
            default=600.0,
            help="give up waiting for results after this many seconds (default 600)",
        )
        p.add_argument(
            "--enhance",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="enhance the selection's picks and download them to OUT/enhanced (default: on when "
            "selecting, i.e. unless --select 0); --no-enhance skips it",
        )
        p.add_argument("--plain", action="store_true", help="plain lines instead of progress bars")

    process = sub.add_parser(
        "process", help="upload a folder of trip media as one session and write a report"
    )
    process.add_argument("directory", type=Path, metavar="DIR")
    process.add_argument(
        "--context", help='what the trip was, e.g. "Weekend in Kyoto" (default: DIR\'s name)'
    )
    process.add_argument(
        "--select",
        type=_select,
        default=12,
        metavar="N|all",
        help="after triage, pick the N best files for a post, grouped into scenes (default 12; "
        "'all': every kept file in rank order; 0: no selection)",
    )
    job_options(process)

    demo = sub.add_parser("demo", help="run `process` on sample media (../shared/testdata, else generated)")
    job_options(demo)
    demo.add_argument(
        "--generated",
        action="store_true",
        help="use a generated sample trip even when ../shared/testdata is there",
    )

    for name, what in (("status", "a session's counters and files"), ("events", "a session's event log")):
        p = sub.add_parser(name, help=f"show {what}")
        p.add_argument("session", metavar="SESSION")
        p.add_argument(
            "--api", help="the Shoebox API (default: the running `shoebox up`, else http://127.0.0.1:8000)"
        )
        p.add_argument("--token", help="bearer token (default for a local API: minted from --state-dir)")
        p.add_argument(
            "--state-dir", type=Path, default=Path(".shoebox"), help="the local stack's state folder"
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rebuild = sub.add_parser(
        "rebuild-views",
        help="rebuild sessions' read models from their event logs (after a read model changed shape)",
        description="Fold each session's read models (its counters, files, jobs, ... in the views table) "
        "again from its event log, and write them in place of what is stored; items the log no longer "
        "makes are deleted. Run it after a change to a read model's shape, or when a read says a stored "
        "item 'is not a ...View': the event log is the truth, the views are derived from it. Each item is "
        "replaced whole, so the stack can keep running. The tables: the running `shoebox up`'s emulator "
        "(found in --state-dir), else the AWS account and prefix the environment's SHOEBOX_* settings "
        "name. Prints a line per session; exits 1 when a named session has no events (nothing is "
        "written then) or when a session could not be rebuilt.",
    )
    rebuild.add_argument(
        "sessions", nargs="*", metavar="SESSION", help="the session ids to rebuild (or --all)"
    )
    rebuild.add_argument("--all", action="store_true", help="every session in the event log")
    rebuild.add_argument(
        "--state-dir", type=Path, default=Path(".shoebox"), help="the local stack's state folder"
    )
    rebuild.add_argument(
        "--env",
        action="store_true",
        help="use the tables the environment's SHOEBOX_* settings name even when a local stack runs",
    )

    dev = sub.add_parser(
        "dev-token",
        help="print a bearer token for the local stack (signed with the key in its state folder)",
    )
    dev.add_argument(
        "--sub", type=_local_user, default=None, help="the user the token is for (default: local)"
    )
    dev.add_argument(
        "--ttl",
        type=_token_lifetime,
        default=3600,
        help="seconds it is valid (default 3600; at most 604800, a week)",
    )
    dev.add_argument(
        "--state-dir", type=Path, default=Path(".shoebox"), help="the stack's state folder (default .shoebox)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "rebuild-views" and bool(args.sessions) == args.all:
        parser.error("rebuild-views: name the sessions, or pass --all (not both)")
    command = {
        "up": cmd_up,
        "process": cmd_process,
        "demo": cmd_demo,
        "status": cmd_status,
        "events": cmd_events,
        "rebuild-views": cmd_rebuild_views,
        "dev-token": cmd_dev_token,
    }[args.command]
    try:
        return command(args)
    except BaseException as exc:  # one line for the person, never a traceback, for the errors we know
        known = _known(exc)
        if known is None:
            raise
        if isinstance(known, KeyboardInterrupt):
            print("shoebox: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"shoebox: {known}", file=sys.stderr)
        return EXIT_FAILED


def _known(exc: BaseException) -> BaseException | None:
    """The error to report when ``exc`` (or one inside an exception group) is one we explain in a line."""
    if isinstance(exc, BaseExceptionGroup):
        found = [k for e in exc.exceptions if (k := _known(e)) is not None]
        # an interrupt wins: the other errors are usually its consequences
        return next((k for k in found if isinstance(k, KeyboardInterrupt)), found[0] if found else None)
    api_error = _loaded("shoebox_cli.client", "ApiError")
    if api_error and isinstance(exc, api_error):
        if getattr(exc, "status", None) == 401:
            return CommandError(
                f"{exc}; pass --token (for a local stack, `shoebox dev-token` prints one, or run this from "
                "the folder where `shoebox up` runs)"
            )
        return CommandError(str(exc))
    explained = (
        _loaded("shoebox_cli.process", "ProcessError")
        + _loaded("deploy.local.stack", "StackAlreadyRunning")
        + _loaded("deploy.local.emulator", "EmulatorError")
        + _loaded("shared.runtime.config", "ConfigError")
        + _loaded("shoebox_cli.rebuild", "RebuildError")
    )
    if isinstance(exc, (CommandError, KeyboardInterrupt, *explained)):
        return exc
    return None


def _loaded(module: str, name: str) -> tuple[type[BaseException], ...]:
    """The exception class when its module is loaded (if it is not, nothing raised one); importing the
    stack's modules only to classify an error would cost seconds."""
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


# --------------------------------------------------------------------------- up
def cmd_up(args: argparse.Namespace) -> int:
    from deploy.local.persistence import emulator_dir
    from deploy.local.stack import StackConfig, running_stack
    from shared.runtime import telemetry
    from shared.runtime.config import Settings

    settings = Settings.from_env()
    telemetry.setup_from(settings, "stack")
    config = StackConfig(
        emulator_port=args.emulator_port,
        api_port=args.api_port,
        state_dir=args.state_dir,
        fresh=args.fresh,
        base=settings,
    )

    logs = Path(args.state_dir).resolve() / "logs"

    async def serve() -> None:
        # Signals are received from the start, so a Ctrl-C while starting stops the stack once it is up.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with running_stack(config) as stack:
                processes = ", ".join(stack.process_names()) or "none"
                prefix = stack.settings.aws.prefix
                print(
                    f"Shoebox is running (pid {os.getpid()}).\n"
                    f"  upload page   {stack.api_url}/  (sign in with any name)\n"
                    f"  API           {stack.api_url}  (OpenAPI: {stack.api_url}/schema)\n"
                    f"  AWS emulator  {stack.emulator.endpoint}  (resource prefix {prefix!r})\n"
                    f"  processes     {processes}\n"
                    f"  logs          {logs}\n"
                    f"  state         {emulator_dir(Path(args.state_dir))}  (kept across restarts; "
                    "--fresh starts empty)\n"
                    f"Use it: shoebox process DIR --api {stack.api_url}\n"
                    f"A bearer token for curl or clients: shoebox dev-token --state-dir {args.state_dir}\n"
                    "Press Ctrl-C to stop.",
                    flush=True,
                )
                async for signum in signals:
                    print(f"{signal.Signals(signum).name}: stopping…", file=sys.stderr, flush=True)
                    break
        print("Stopped.", flush=True)

    anyio.run(serve)
    return EXIT_OK


# --------------------------------------------------------------------------- process and demo
def _job_token(args: argparse.Namespace) -> str | None:
    """``--token``, or for a local ``--api`` one minted from the local stack's key (None without --api:
    the job's own stack makes one)."""
    if args.api is None:
        return None
    from shoebox_cli.tokens import for_api

    return for_api(args.api, args.token, args.state_dir)


def cmd_process(args: argparse.Namespace) -> int:
    from shoebox_cli.process import ProcessOptions

    return run_job(
        ProcessOptions(
            directory=args.directory,
            out=args.out,
            context=args.context,
            api=args.api,
            token=_job_token(args),
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            select=args.select,
            enhance=args.enhance,
        ),
        plain=args.plain or None,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from shoebox_cli import samples
    from shoebox_cli.process import ProcessOptions

    out: Path = args.out
    if TESTDATA.is_dir() and not args.generated:
        directory = TESTDATA
        print(f"Sample media: {directory}", file=sys.stderr)
    else:
        directory = out / "samples"
        made = samples.generate(directory)
        print(f"Generated a sample trip of {len(made)} files in {directory}", file=sys.stderr)
    return run_job(
        ProcessOptions(
            directory=directory,
            out=out,
            context="Sample trip",
            api=args.api,
            token=_job_token(args),
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            enhance=args.enhance,
        ),
        plain=args.plain or None,
    )


def run_job(options: ProcessOptions, *, plain: bool | None = None) -> int:
    """Run one ``process`` job with progress on stderr and the outcome on stdout; returns the exit code."""
    from shoebox_cli.process import Job
    from shoebox_cli.ui import make_ui

    ui = make_ui(plain)
    job = Job(options, ui)
    try:
        with ui:
            outcome = anyio.run(job.run)
    except BaseException as exc:
        known = _known(exc)
        if isinstance(known, KeyboardInterrupt):
            print(f"shoebox: interrupted{_resume_hint(job)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
    _print_outcome(outcome, job)
    return EXIT_OK


def _resume_hint(job: Job) -> str:
    if job.session_id is None:
        return ""
    if job.options.api is None:
        return f" (session {job.session_id} ended with its embedded stack; use --api to make a job resumable)"
    return f"; run the same command again to resume session {job.session_id}"


def _print_outcome(outcome: Outcome, job: Job) -> None:
    r = outcome.report
    c, t = r.counts, r.timings
    print(
        f"{r.session.context or 'Session'}: {c.files} files: {c.processed} processed, {c.rejected} rejected, "
        f"{c.duplicate} duplicate, {c.pending} pending, {c.missing} missing (upload {t.upload_s:.1f} s, "
        f"processing {t.processing_s:.1f} s, total {t.total_s:.1f} s)"
    )
    pending = [f for f in r.files if f.status == "pending"]
    for group, what in (
        (pending, "Pending (uploaded, not decided before the job ended)"),
        (outcome.missing, "Missing (no result before the job ended)"),
    ):
        if group:
            shown = ", ".join(f.path for f in group[:10]) + (
                f" and {len(group) - 10} more" if len(group) > 10 else ""
            )
            print(f"{what}: {shown}")
    if (pending or outcome.missing) and job.options.api is not None:
        print("Run the same command again to resume the session and complete the report.")
    print(f"Report: {outcome.html_path}")


# --------------------------------------------------------------------------- status and events
def cmd_status(args: argparse.Namespace) -> int:
    from shoebox_cli.sessions import default_api, show_status
    from shoebox_cli.tokens import for_api

    api = args.api or default_api(args.state_dir)
    token = for_api(api, args.token, args.state_dir)
    with _hint_unreachable(api):
        anyio.run(lambda: show_status(api, args.session, token=token, as_json=args.json))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    from shoebox_cli.sessions import default_api, show_events
    from shoebox_cli.tokens import for_api

    api = args.api or default_api(args.state_dir)
    token = for_api(api, args.token, args.state_dir)
    with _hint_unreachable(api):
        anyio.run(lambda: show_events(api, args.session, token=token, as_json=args.json))
    return EXIT_OK


# --------------------------------------------------------------------------- rebuild-views
def cmd_rebuild_views(args: argparse.Namespace) -> int:
    """Rebuild the named sessions' read models (or every session's) straight on the tables."""
    from shoebox_cli.rebuild import log_settings, run

    settings = log_settings(args.state_dir, from_env=args.env)
    anyio.run(lambda: run(settings, None if args.all else args.sessions))
    return EXIT_OK


# --------------------------------------------------------------------------- dev-token
def cmd_dev_token(args: argparse.Namespace) -> int:
    """Print a token signed by the local stack's issuer (the key ``shoebox up`` keeps in its state folder)."""
    from shoebox_cli.tokens import LOCAL_USER, NoToken, mint

    try:
        token = mint(args.state_dir, sub=LOCAL_USER if args.sub is None else args.sub, ttl_s=args.ttl)
    except NoToken as exc:
        raise CommandError(str(exc)) from None
    print(token)
    return EXIT_OK


@contextlib.contextmanager
def _hint_unreachable(api: str) -> Iterator[None]:
    from shoebox_cli.client import ApiUnreachable

    try:
        yield
    except ApiUnreachable as exc:
        raise CommandError(f"{exc.message}; is `shoebox up` running? (or pass --api URL)") from None


if __name__ == "__main__":
    sys.exit(main())
