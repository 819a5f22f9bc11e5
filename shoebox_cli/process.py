"""``shoebox process``: a folder of trip media in, a report out, through the public HTTP API only.

The job, in order: read the folder (every regular file, sorted, hidden ones skipped), hash every file and
set exact duplicates aside (uploaded once), create the session (or resume the one in OUT's state file),
upload the rest with a bounded number in flight through presigned PUTs while polling the session's status,
wait until every uploaded file has its result (or the timeout), then write ``report.json``/``report.html``.

Then triage and the selection (``--select N``, default 12; ``all``; 0 skips it), each one more poll of the API
(:mod:`shoebox_cli.steps`) that fills its fields of the report's entries, and the enhancement of the picks
(``--enhance``, on when selecting; :mod:`shoebox_cli.enhancing`), whose files land under ``OUT/enhanced``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import anyio
import msgspec

from deploy.local.emulator import free_port
from deploy.local.stack import StackConfig, running_stack
from shared.runtime import media_types, telemetry
from shared.runtime.config import Settings
from shoebox_cli import enhancing, inputs, report, state, steps
from shoebox_cli.client import (
    ApiClient,
    ApiError,
    ApiUnreachable,
    FileStatus,
    SelectionJob,
    SelectionState,
    SessionFiles,
    SessionNotFound,
    UploadRefused,
)
from shoebox_cli.entries import (
    LocalResult,
    download_thumbnails,
    event_metadata,
    report_entries,
)
from shoebox_cli.inputs import InputFile
from shoebox_cli.report import FileEntry, Reason, Report, SelectionRun, Triage
from shoebox_cli.state import JobState, Uploaded
from shoebox_cli.tokens import JOB_TOKEN_TTL_S, LOCAL_USER
from shoebox_cli.ui import Ui

log = logging.getLogger("shoebox.cli")

LOG_FILE = "shoebox.log"


class ProcessError(Exception):
    """The job could not run; the message is one line for the person at the terminal."""


class ProcessOptions(msgspec.Struct, frozen=True, kw_only=True):
    directory: Path
    out: Path
    context: str | None = None  # default: the folder's name
    api: str | None = None  # None: start an embedded stack for the job
    token: str | None = None
    concurrency: int = 4
    timeout_s: float = 600.0
    poll_s: float = 0.2
    #: ``--select``: how many picks (None: "all", every kept item; 0: no selection)
    select: int | None = 12
    #: ``--enhance``/``--no-enhance``: enhance the selection's picks (None: when selecting, i.e. select != 0)
    enhance: bool | None = None


@dataclasses.dataclass(frozen=True)
class Hooks:
    """Test seams. ``on_uploaded(path)`` runs after an upload is recorded in the state file."""

    on_uploaded: Callable[[str], Awaitable[None]] | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    report: Report
    json_path: Path
    html_path: Path
    resumed: bool

    @property
    def missing(self) -> list[FileEntry]:
        return [f for f in self.report.files if f.status == "missing"]


class Job:
    """One run of ``shoebox process``. ``session_id`` is known once the session exists (for messages)."""

    def __init__(self, options: ProcessOptions, ui: Ui, hooks: Hooks | None = None) -> None:
        self.options = options
        self.ui = ui
        self.hooks = hooks or Hooks()
        self.session_id: str | None = None
        self.api_url: str | None = options.api
        self.resumed = False
        self._state: JobState | None = None
        self._local: dict[str, LocalResult] = {}
        self._key_to_path: dict[str, str] = {}  # every uploaded key of this job's files
        self._server: dict[str, FileStatus] = {}
        self._counted: set[str] = set()  # keys whose result the processing bar has counted
        self._uploads_done = anyio.Event()
        self._context = ""
        self._notes: list[str] = []  # for the report (``Report.notes``), said on the console too

    # ------------------------------------------------------------------ entry
    async def run(self) -> Outcome:
        directory = self.options.directory
        if not directory.is_dir():
            raise ProcessError(f"no such folder: {directory}")
        root, out = directory.resolve(), self.options.out.resolve()
        files = inputs.scan(directory, exclude=[out] if root in out.parents else [])
        if not files:
            raise ProcessError(f"no files in {directory}")
        if not any(f.readable for f in files):
            raise ProcessError(
                f"no photos or videos Shoebox reads in {directory} ({len(files)} other file"
                f"{'' if len(files) == 1 else 's'})"
            )
        if self.options.api is not None:
            return await self._run(self.options.api, self.options.token, files)
        self.ui.note("Starting the embedded Shoebox stack for this job…")
        async with embedded_stack(self.options.out / LOG_FILE) as (api_url, token):
            self.api_url = api_url
            return await self._run(api_url, token, files)

    async def _run(self, api: str, token: str | None, files: list[InputFile]) -> Outcome:
        started = time.monotonic()
        async with ApiClient(api, token=token) as client:
            try:
                await client.health()
            except ApiUnreachable as exc:
                raise ProcessError(f"the Shoebox API is unreachable: {exc.message}") from None
            except ApiError as exc:
                raise ProcessError(exc.message) from None
            shas = await self._hash(files)
            duplicates = self._set_duplicates_aside(files, shas)
            originals = [f for f in files if f.path not in duplicates]
            st = await self._open_session(client, api)
            names = inputs.assign_names(
                [f.path for f in originals], {p: u.name for p, u in st.uploads.items()}
            )
            todo = await self._still_to_upload(client, st, originals, names, shas)

            self.ui.phase("upload", "Uploading", len(todo))
            self.ui.phase("processing", "Processing", len(originals))
            upload_started = time.monotonic()
            upload_s = 0.0
            deadline = started + self.options.timeout_s
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._wait_for_results, client)
                    await self._upload_all(client, todo, names, shas)
                    upload_s = time.monotonic() - upload_started
                    self._uploads_done.set()
            if not self._uploads_done.is_set():
                upload_s = time.monotonic() - upload_started
            processing_s = max(0.0, time.monotonic() - upload_started - upload_s)
            if scope.cancelled_caught:
                self._say(
                    f"Timed out after {self.options.timeout_s:g} s; writing the report with what has arrived."
                )
            results = len(self._counted) + len(self._local) - len(duplicates)
            self.ui.done(
                "processing",
                f"Results for {results} of {len(originals)} files in {processing_s:.1f} s after the uploads",
            )

            verdicts, selection, run = await self._after_processing(client, deadline)
            enhanced = await self._enhance(client, selection, deadline)
            metadata = await event_metadata(client, st.session_id)
            thumbnails = await download_thumbnails(
                client, self._server, self._key_to_path, self.options.out, self.options.concurrency
            )
        entries = report_entries(
            files,
            duplicates=duplicates,
            shas=shas,
            uploads=st.uploads,
            local=self._local,
            server=self._server,
            key_to_path=self._key_to_path,
            metadata=metadata,
            thumbnails=thumbnails,
        )
        entries = steps.apply_outcomes(
            entries, triage=verdicts, selection=selection, key_to_path=self._key_to_path
        )
        entries = enhancing.apply_enhancement(entries, enhanced)
        result = Report(
            generated_at=report.now_iso(),
            session=report.SessionInfo(id=st.session_id, context=self._context, api=api),
            counts=report.count(entries),
            timings=report.Timings(
                upload_s=round(upload_s, 3),
                processing_s=round(processing_s, 3),
                total_s=round(time.monotonic() - started, 3),
            ),
            files=entries,
            selection=run,
            notes=list(self._notes),
            enhancement=enhanced.run if enhanced else None,
        )
        json_path, html_path = report.write(result, self.options.out)
        return Outcome(result, json_path, html_path, self.resumed)

    # ------------------------------------------------------------------ after processing
    async def _after_processing(
        self, client: ApiClient, deadline: float
    ) -> tuple[dict[str, Triage], SelectionState | None, SelectionRun | None]:
        """Triage every decided file of the session, then (unless ``select`` is 0) the selection, within
        what is left of the job's timeout. A step that fails or runs out of time is said once (on the
        console and in the report's notes) and leaves its fields null: the report is still written."""
        assert self.session_id is not None
        decided = [f for f in self._server.values() if f.final]
        if not any(f.status == "processed" for f in decided):
            return {}, None, None
        count = self.options.select
        verdicts: dict[str, Triage] = {}
        job: SelectionJob | None = None
        state: SelectionState | None = None
        with anyio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
            try:
                verdicts = await steps.run_triage(
                    client, self.session_id, len(decided), self.ui, poll_s=self.options.poll_s
                )
                if count != 0:
                    job = await steps.start_selection(client, self.session_id, count, self.ui)
                    state = await steps.await_selection(
                        client, self.session_id, job, self.ui, poll_s=self.options.poll_s
                    )
                    if state.status != "complete":
                        self._say(f"The selection failed: {steps.failure(state)}; the report has no picks.")
            except (steps.StepFailed, ApiError) as exc:
                self._say(f"{exc}; writing the report without it.")
        if scope.cancelled_caught:
            self._say("Timed out during triage or selection; writing the report with what has arrived.")
        if count == 0:
            return verdicts, None, None
        run = steps.selection_run(job, count, state, timed_out=scope.cancelled_caught)
        return verdicts, state, run

    async def _enhance(
        self, client: ApiClient, selection: SelectionState | None, deadline: float
    ) -> enhancing.EnhancementOutcome | None:
        """Enhance the selection's picks (unless ``--no-enhance``) within what is left of the job's
        timeout, and never longer than the enhancement saga's own deadline plus a margin."""
        assert self.session_id is not None
        options = self.options
        if not (options.enhance if options.enhance is not None else options.select != 0):
            return None
        if selection is None or selection.status != "complete":
            if options.select == 0:
                self._say(
                    "Nothing to enhance: --enhance enhances the selection's picks, and --select 0 has none."
                )
            return None  # a selection that failed or ran out is said already
        picks = [p.key for p in selection.selected]
        left = deadline - time.monotonic()
        if not picks or left <= 0:
            if picks:
                self._say("The job's timeout ran out before the enhancement; the report has none.")
            return None
        budget = min(left, Settings.from_env().enhancement.wait_s + enhancing.MARGIN_S)
        outcome = await enhancing.run_enhancement(
            client,
            self.session_id,
            selection.job_id,
            picks,
            options.out,
            self.ui,
            budget_s=budget,
            poll_s=options.poll_s,
            concurrency=options.concurrency,
        )
        for key, why in outcome.errors.items():
            self.ui.problem(self._key_to_path.get(key, key), f"not enhanced ({why.code}): {why.message}")
        if outcome.run.status != "done":
            self._say(f"The enhancement ended {outcome.run.status.replace('_', ' ')}: {outcome.run.error}.")
        return outcome

    def _say(self, note: str) -> None:
        """A note for the person now and for the report's reader later."""
        self.ui.note(note)
        self._notes.append(note)

    # ------------------------------------------------------------------ before uploading
    async def _hash(self, files: Sequence[InputFile]) -> dict[str, str]:
        self.ui.phase("reading", "Reading", len(files))
        limiter = anyio.CapacityLimiter(4)
        shas: dict[str, str] = {}

        async def one(f: InputFile) -> None:
            shas[f.path] = await anyio.to_thread.run_sync(inputs.sha256_file, f.abspath, limiter=limiter)
            self.ui.advance("reading")

        async with anyio.create_task_group() as tg:
            for f in files:
                tg.start_soon(one, f)
        total = sum(f.size for f in files)
        self.ui.done("reading", f"Read {len(files)} files ({_mb(total)})")
        return shas

    def _set_duplicates_aside(self, files: Sequence[InputFile], shas: dict[str, str]) -> dict[str, str]:
        """path -> the earlier path with the same bytes; those are reported, never uploaded."""
        first: dict[str, str] = {}
        duplicates: dict[str, str] = {}
        for f in files:
            sha = shas[f.path]
            if sha in first:
                duplicates[f.path] = first[sha]
                self._local[f.path] = LocalResult(
                    "duplicate", Reason(code="duplicate", message=f"same bytes as {first[sha]}")
                )
            else:
                first[sha] = f.path
        if duplicates:
            self.ui.note(
                f"{len(duplicates)} exact duplicate{'s' if len(duplicates) > 1 else ''} set aside "
                "(not uploaded)"
            )
        return duplicates

    async def _open_session(self, client: ApiClient, api: str) -> JobState:
        out, directory = self.options.out, self.options.directory
        previous = state.load(out)
        if previous is not None and previous.matches(api=api, directory=directory):
            try:
                status, _ = await client.session(previous.session_id)
            except SessionNotFound:
                self.ui.note(f"Session {previous.session_id} is gone from this API; starting a new one.")
            else:
                assert status is not None
                self.resumed = True
                self._context = status.context
                self._adopt(previous)
                self.ui.note(
                    f"Resuming session {previous.session_id} ({len(previous.uploads)} files uploaded before)"
                )
                return previous
        context = self.options.context if self.options.context is not None else directory.resolve().name
        session_id = await client.create_session(context)
        self._context = context
        st = JobState(api=api, session_id=session_id, directory=str(directory.resolve()), context=context)
        self._adopt(st)
        state.save(out, st)
        self.ui.note(f"Session {session_id}")
        return st

    def _adopt(self, st: JobState) -> None:
        self._state = st
        self.session_id = st.session_id
        self._key_to_path = {u.key: p for p, u in st.uploads.items()}

    async def _still_to_upload(
        self,
        client: ApiClient,
        st: JobState,
        originals: Sequence[InputFile],
        names: dict[str, str],
        shas: dict[str, str],
    ) -> list[InputFile]:
        """The originals not uploaded yet. A file the state file does not know but the session already has
        (the job stopped between the PUT and writing the state file) counts as uploaded."""
        server_by_name: dict[str, FileStatus] = {}
        if self.resumed:
            status, _ = await client.session(st.session_id)
            server_by_name = {f.name: f for f in (status.files if status else [])}
        todo: list[InputFile] = []
        for f in originals:
            done = st.uploads.get(f.path)
            if done is not None and done.sha256 == shas[f.path]:
                continue
            there = server_by_name.get(names[f.path])
            if there is not None and (
                there.sha256 == shas[f.path] or (there.sha256 is None and there.size == f.size)
            ):
                self._record(f.path, Uploaded(key=there.key, name=names[f.path], sha256=shas[f.path]))
                continue
            todo.append(f)
        # the uploaded files that are no longer in the folder are not this job's any more
        self._key_to_path = {k: p for k, p in self._key_to_path.items() if p in names}
        return todo

    def _record(self, path: str, uploaded: Uploaded) -> None:
        assert self._state is not None
        self._state.uploads[path] = uploaded
        self._key_to_path[uploaded.key] = path
        state.save(self.options.out, self._state)

    # ------------------------------------------------------------------ uploading
    async def _upload_all(
        self, client: ApiClient, todo: Sequence[InputFile], names: dict[str, str], shas: dict[str, str]
    ) -> None:
        n = len(todo)
        started = time.monotonic()
        pending = iter(todo)
        uploaded: list[InputFile] = []

        async def worker() -> None:
            for f in pending:  # shared iterator: each file goes to exactly one worker
                if await self._upload_one(client, f, names[f.path], shas[f.path]):
                    uploaded.append(f)
                self.ui.advance("upload")

        async with anyio.create_task_group() as tg:
            for _ in range(max(1, min(self.options.concurrency, n))):
                tg.start_soon(worker)
        took = time.monotonic() - started
        refused = n - len(uploaded)
        tail = f"; {refused} not uploaded" if refused else ""
        self.ui.done(
            "upload",
            f"Uploaded {len(uploaded)} files ({_mb(sum(f.size for f in uploaded))}) in {took:.1f} s{tail}",
        )

    async def _upload_one(self, client: ApiClient, f: InputFile, name: str, sha: str) -> bool:
        assert self.session_id is not None
        if not f.readable:
            # not sent at all: the API takes only the types of shared.runtime.media_types (the same list),
            # so asking would only cost a round trip (and a RAW file is often 25 MB or more)
            self._final_here(f.path, "rejected", Reason(code="unsupported_type", message=unreadable(f)))
            return False
        try:
            ticket = await client.request_upload(self.session_id, name, f.content_type, f.size)
        except UploadRefused as exc:
            code = "too_large" if exc.status == 413 else "refused"
            self._final_here(f.path, "rejected", Reason(code=code, message=exc.message))
            return False
        except SessionNotFound as exc:
            raise ProcessError(
                f"session {self.session_id} disappeared from the API ({exc.message})"
            ) from None
        except ApiError as exc:
            self._final_here(f.path, "missing", Reason(code="upload_failed", message=exc.message))
            return False
        try:
            await client.put(ticket, Path(f.abspath), f.size)
        except (ApiError, OSError) as exc:
            message = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
            self._final_here(f.path, "missing", Reason(code="upload_failed", message=message))
            return False
        self._record(f.path, Uploaded(key=ticket.key, name=name, sha256=sha))
        if self.hooks.on_uploaded is not None:
            await self.hooks.on_uploaded(f.path)
        return True

    def _final_here(self, path: str, status: report.Status, reason: Reason) -> None:
        self._local[path] = LocalResult(status, reason)
        self.ui.problem(
            path, f"{'not uploaded' if status == 'missing' else status} ({reason.code}): {reason.message}"
        )
        self.ui.advance("processing")

    # ------------------------------------------------------------------ waiting for results
    async def _wait_for_results(self, client: ApiClient) -> None:
        """Poll the session until every uploaded file has a result and the uploads are over: with the last
        answer's ETag (an unchanged session is a 304) and its version (a changed one sends only the files
        that changed since, so a poll of a large session costs what changed)."""
        assert self.session_id is not None
        session = SessionFiles()
        interval = self.options.poll_s
        while True:
            try:
                changed = await session.poll(client, self.session_id)
            except SessionNotFound as exc:
                raise ProcessError(
                    f"session {self.session_id} disappeared from the API ({exc.message})"
                ) from None
            self._server = session.files
            self._apply(changed)
            if self._uploads_done.is_set() and all(k in self._counted for k in self._key_to_path):
                return
            interval = self.options.poll_s if changed else min(interval * 1.5, 1.0)
            await anyio.sleep(interval)

    def _apply(self, files: Sequence[FileStatus]) -> None:
        """Count the files of this job that got their result, and say which were rejected."""
        for f in files:
            path = self._key_to_path.get(f.key)
            if path is None or not f.final or f.key in self._counted:
                continue
            self._counted.add(f.key)
            self.ui.advance("processing")
            if f.status == "rejected":
                self.ui.problem(path, f"rejected ({f.code}): {f.message}")


def unreadable(f: InputFile) -> str:
    """Why a file was not uploaded: its type (by its name) is not one Shoebox reads."""
    suffix = Path(f.path).suffix
    what = f"'{suffix}' files" if suffix else "files without an extension"
    return (
        f"not a photo or video type Shoebox reads ({what}, {f.content_type}); not uploaded. "
        f"Shoebox reads {', '.join(media_types.BY_EXTENSION)}"
    )


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@contextlib.asynccontextmanager
async def embedded_stack(log_path: Path) -> AsyncIterator[tuple[str, str]]:
    """The whole stack on free ports with its state in a temporary folder, for one job; yields the API URL
    and a bearer token from the stack's issuer. Its logs go to ``log_path``, not over the progress bars."""
    settings = Settings.from_env()
    telemetry.setup_from(settings, "stack")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path, encoding="utf-8")
    root = logging.getLogger()
    if root.handlers:
        handler.setFormatter(root.handlers[0].formatter)
    _log_only_to(handler)
    try:
        with tempfile.TemporaryDirectory(prefix="shoebox-stack-") as state_dir:
            config = StackConfig(
                emulator_port=free_port(),
                api_port=free_port(),
                state_dir=state_dir,
                worker_wait_s=1,
                base=settings,
            )
            async with running_stack(config) as stack:
                _log_only_to(handler)  # the API's framework installs its own handlers when it starts
                yield stack.api_url, stack.issuer.issue(LOCAL_USER, JOB_TOKEN_TTL_S)
    finally:
        handler.close()


def _log_only_to(handler: logging.Handler) -> None:
    for logger in (logging.getLogger(), logging.getLogger("litestar")):
        logger.handlers[:] = [handler]
    uvicorn = logging.getLogger("uvicorn")  # logs while the API starts, before the line above runs again
    uvicorn.handlers[:] = [handler]
    uvicorn.propagate = False
