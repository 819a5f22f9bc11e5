"""The README's promise across a restart of the stack: a `shoebox process DIR --api URL` interrupted, the
stack stopped and started again on its state folder, and the same command run again resumes the same
session and uploads nothing twice (docs/persistence.md)."""

from __future__ import annotations

import contextlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from deploy.local.emulator import free_port
from deploy.local.stack import Stack, StackConfig, running_stack
from shared.runtime.config import Settings
from shoebox_cli import report, state
from shoebox_cli.process import Hooks, Job, Outcome, ProcessOptions
from shoebox_cli.ui import PlainUi
from tests.support.paths import TESTDATA

pytestmark = [pytest.mark.stack, pytest.mark.slow]

PHOTOS = ("gps/DSCN0010.jpg", "gps/DSCN0012.jpg", "cameras/Canon_40D.jpg", "cameras/Nikon_D70.jpg")


@contextlib.contextmanager
def stack_on(config: StackConfig) -> Iterator[Stack]:
    with start_blocking_portal("asyncio") as portal:
        cm = portal.wrap_async_context_manager(running_stack(config))
        stack = cm.__enter__()
        try:
            yield stack
        finally:
            cm.__exit__(None, None, None)


def test_a_job_resumes_its_session_after_the_stack_restarts(tmp_path: Path, suite_settings: Settings) -> None:
    trip = tmp_path / "trip"
    trip.mkdir()
    for rel in PHOTOS:
        shutil.copyfile(TESTDATA / "photos" / rel, trip / rel.replace("/", "-"))
    config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        state_dir=str(tmp_path / "state"),
        base=suite_settings,
    )
    out = tmp_path / "out"
    uploads: Counter[str] = Counter()

    def options(token: str) -> ProcessOptions:
        api = f"http://127.0.0.1:{config.api_port}"
        return ProcessOptions(directory=trip, out=out, api=api, token=token, concurrency=1, timeout_s=120)

    with stack_on(config) as stack:
        token = stack.issuer.issue("alice", 3600)

        async def interrupted_after_two_uploads() -> None:
            with anyio.CancelScope() as scope:  # what Ctrl-C does to the job

                async def on_uploaded(path: str) -> None:
                    uploads[path] += 1
                    if sum(uploads.values()) == 2:
                        scope.cancel()

                await Job(options(token), PlainUi(), Hooks(on_uploaded=on_uploaded)).run()

        anyio.run(interrupted_after_two_uploads)
    first = state.load(out)
    assert first is not None and len(first.uploads) == 2

    async def on_uploaded(path: str) -> None:
        uploads[path] += 1

    with stack_on(config) as stack:

        async def resumed() -> Outcome:
            return await Job(options(token), PlainUi(), Hooks(on_uploaded=on_uploaded)).run()

        outcome = anyio.run(resumed)  # "Session … is gone from this API" when the state was not kept
    assert outcome.resumed
    assert outcome.report.session.id == first.session_id
    assert sorted(uploads) == sorted(p.replace("/", "-") for p in PHOTOS)
    assert set(uploads.values()) == {1}
    assert outcome.report.counts == report.Counts(files=4, processed=4, rejected=0, duplicate=0, missing=0)
