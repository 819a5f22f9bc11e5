"""The selection provider interface: what a provider (offline, Gemini) is given and must answer.

The handler gives a provider the session's **candidates**: every processed file that triage did not discard,
with what media_process measured and where its thumbnail and preview are (never the originals), the trip
context and the requested count (None = "all"). The provider answers with picks in rank order, exclusions
with a category and a reason, and scene groups. Files triage discarded never reach a provider: the handler
excludes them itself (``discarded_in_triage``).

The provider's answer is not trusted: ``services.selection.reconcile`` checks that every candidate appears
exactly once across picks and exclusions, repairs what is unambiguous (a dropped item becomes a
``not_evaluated`` exclusion; an invented one is removed; a repeated one kept once where its copies agree)
and fails the job otherwise. A provider may therefore answer loosely; it must not answer with items it was
not given on purpose. Ranks may be any increasing numbers: they are renumbered 1..n in the given order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from services.selection.providers import TriageItem
from shared.events import catalogue as c
from shared.events.selection_results import Exclusion, Pick, SceneGroup


class SelectionItem(TriageItem, frozen=True, kw_only=True):
    """One candidate as a provider sees it: what triage saw of the file, and triage's verdict on it."""

    triage: c.Verdict | None = None  # the session's triage verdict ("keep"), None when triage never saw it


class SelectionAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's answer, before the handler checks it."""

    selected: list[Pick]  # rank order; ``rank`` renumbered by the handler
    excluded: list[Exclusion]
    scene_groups: list[SceneGroup] = msgspec.field(default_factory=list)
    tokens: int | None = None  # prompt + output tokens used, where the provider counts them


class SelectionError(Exception):
    """The provider could not answer (the AI service failed, or answered nonsense after its retries).

    ``code`` is the job's ``FailureCode``; the message says why in a sentence a person understands."""

    def __init__(self, message: str, code: c.FailureCode = "provider_error") -> None:
        super().__init__(message)
        self.code: c.FailureCode = code


@runtime_checkable
class SelectionProvider(Protocol):
    """Picks the best ``count`` candidates for a post (all of them, ranked, when ``count`` is None)."""

    @property
    def name(self) -> str:
        """Recorded in ``selection.completed`` and the results file: "offline", "gemini"."""
        ...

    async def select(
        self, items: Sequence[SelectionItem], *, context: str, count: int | None
    ) -> SelectionAnswer:
        """``items`` in file-name order (never empty); ``context`` is the trip ("Weekend in Kyoto"), may be
        empty; ``count`` >= 1, or None for every item, ranked, with near-duplicates kept and marked
        (``Pick.duplicate_of``). Raises ``SelectionError`` when it cannot answer."""
        ...
