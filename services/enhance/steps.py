"""The enhance service's steps, shared by a first pass (``handlers``) and a feedback pass (``feedback``):
its dependencies, the result's keys, the edits and phases as people read them, the phases committed live
from the pipeline's worker thread, the download and the pipeline run, and the result's upload."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import anyio
import anyio.from_thread
import anyio.to_thread
import msgspec
import pyvips

from services.enhance.model import Edit, PhaseResult
from services.enhance.pipeline import SCORE_THRESHOLD, Enhanced, enhance_photo
from services.enhance.provider import EditContext, EnhanceProvider, ProviderError
from shared.events import catalogue as c
from shared.runtime.enhancement_items import record_phase, trip_of
from shared.runtime.inbound import ENHANCED
from shared.runtime.log import EventLog
from shared.runtime.storage import ObjectNotFound, ObjectStore, download_to

log = logging.getLogger("shoebox.enhance")

PublishedPhase = Literal["creative_edit", "analysis", "surgical_edit"]
SOURCE = "shoebox/enhance"
JPEG = "image/jpeg"
#: the pipeline's phases as the published ``photo.enhance.phase`` v1 names them (a feedback pass is a
#: creative edit whose summary says so: a new name would be a v2 event)
PHASE_NAMES: dict[str, PublishedPhase] = {
    "creative": "creative_edit",
    "feedback": "creative_edit",
    "analysis": "analysis",
    "surgical": "surgical_edit",
}


class Deps(msgspec.Struct, frozen=True, kw_only=True):
    store: ObjectStore
    log: EventLog
    provider: EnhanceProvider
    #: where originals are downloaded to (None: the system's temporary folder)
    tmp_root: str | None = None
    #: the stop rule's score (``settings.enhancement.score_threshold``)
    threshold: float = SCORE_THRESHOLD


class Failed(Exception):
    """The item cannot be enhanced, for a reason the person can read (``code``)."""

    def __init__(self, code: c.FailureCode, message: str) -> None:
        super().__init__(message)
        self.code: c.FailureCode = code
        self.message = message


async def edit_context(
    log: EventLog, session_id: str, key: str, history: tuple[tuple[str, str], ...] = ()
) -> EditContext:
    """What a provider may know besides the pixels: the file's name, the trip as the person described it
    (the session's context) and the item's earlier feedback turns."""
    return EditContext(name=key.rsplit("/", 1)[-1], trip=await trip_of(log, session_id), history=history)


def result_keys(session_id: str, job_id: str, key: str, revision: int = 0) -> tuple[str, str]:
    """``(enhanced, thumbnail)`` keys of an item's result: ``enhanced/<session>/<job>/<name>/<stem>.jpg``
    and ``…/<stem>-thumb.jpg``; a feedback pass's ``…/<stem>-r<revision>.jpg``. A folder per upload name
    (names are unique in a session), so ``a.jpg`` and ``a.heic`` never share a result; the same inputs
    always give the same keys (a redelivery writes the same objects again)."""
    name = key.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] or name
    suffix = f"-r{revision}" if revision else ""
    base = f"{ENHANCED}/{session_id}/{job_id}/{name}/{stem}{suffix}"
    return f"{base}.jpg", f"{base}-thumb.jpg"


def describe(edit: Edit) -> str:
    """An edit as a person reads it: ``exposure +0.18``, ``shadow-lift +0.30 in 0.33,0.67 0.33x0.33``."""
    text = f"{edit.name} {edit.amount:+.2f}"
    if edit.region is not None:
        r = edit.region
        text += f" in {r.x:.2f},{r.y:.2f} {r.w:.2f}x{r.h:.2f}"
    if edit.detail:
        text += f" ({edit.detail})"
    return text


def summary(result: PhaseResult, revision: int | None) -> str:
    """What a phase did, for ``photo.enhance.phase``'s summary."""
    edits = ", ".join(describe(e) for e in result.edits)
    if result.phase == "feedback":
        return f"feedback pass (revision {revision}): {result.note or edits or 'nothing'}"
    if result.phase == "analysis" and result.analysis is not None:
        a = result.analysis
        left = sum(1 for i in a.improvements if i.impact in ("high", "medium"))
        return f"score {a.score:.1f}/10, {left} improvement(s) worth an edit: {a.summary or 'none'}"
    if result.phase == "surgical":
        return f"surgical edit {result.step}: {result.note}" + (f" ({edits})" if edits else "")
    return edits or result.note or "nothing needed"


class PhaseRecorder:
    """``enhance_photo``'s ``on_phase``: commits each phase as ``photo.enhance.phase`` as it ends, from the
    pipeline's worker thread (``anyio.from_thread.run``). Ids derive from the request and the phase's
    place, so a redelivered request's phases are refused as duplicates rather than shown twice."""

    def __init__(self, event: c.PhotoEnhanceRequested, deps: Deps) -> None:
        self.event = event
        self.deps = deps
        self.count = 0

    async def commit(self, result: PhaseResult) -> None:
        d = self.event.data
        self.count += 1
        payload = c.PhotoEnhancePhaseData(
            job_id=d.job_id, key=d.key, phase=PHASE_NAMES[result.phase], summary=summary(result, d.revision)
        )
        await record_phase(self.deps.log, self.event, payload, source=SOURCE, count=self.count)

    def __call__(self, result: PhaseResult) -> None:
        anyio.from_thread.run(self.commit, result)


async def download(store: ObjectStore, key: str, into: Path) -> Path:
    """The object at ``key`` as a file in ``into`` (streamed); ``ObjectNotFound`` when it is gone."""
    return await download_to(store, key, into / key.rsplit("/", 1)[-1])


async def run_pipeline(
    event: c.PhotoEnhanceRequested,
    deps: Deps,
    source_key: str,
    *,
    context: EditContext | None = None,
    sentence: str | None = None,
) -> Enhanced:
    """Download ``source_key`` and run the pipeline over it in a worker thread, its phases recorded live.
    Raises ``Failed`` (the source vanished, the provider gave up, the photo cannot be read)."""
    workdir = Path(tempfile.mkdtemp(prefix="shoebox-enhance-", dir=deps.tmp_root))
    try:
        try:
            path = await download(deps.store, source_key, workdir)
        except ObjectNotFound:
            raise Failed(
                "no_files", f"{source_key.rsplit('/', 1)[-1]} is no longer in storage (deleted?)"
            ) from None
        recorder = PhaseRecorder(event, deps)

        def run() -> Enhanced:
            return enhance_photo(
                path,
                deps.provider,
                context=context,
                feedback=sentence,
                on_phase=recorder,
                threshold=deps.threshold,
            )

        try:
            return await anyio.to_thread.run_sync(run)
        except ProviderError as exc:
            # the provider retried within its own budget: a redelivery would spend it again
            raise Failed("provider_error", f"The {deps.provider.name} provider failed: {exc}") from exc
        except pyvips.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Failed("internal_error", f"The photo could not be read or edited: {first}") from exc
    finally:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))


async def store_result(deps: Deps, keys: tuple[str, str], result: Enhanced) -> None:
    """The enhanced JPEG and its thumbnail under ``keys`` (the same bytes again on a redelivery)."""
    await deps.store.put(keys[0], result.jpeg, JPEG)
    await deps.store.put(keys[1], result.thumbnail, JPEG)
