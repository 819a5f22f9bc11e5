"""A triage provider that reports its job's token usage.

``Usage``, ``Meter`` and ``BudgetExceeded`` (one budget per job, a request that would pass it never sent) are
every AI provider's and live in shared/runtime/ai.py; they are named from here as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from services.selection.providers import TriageItem
from shared.events import catalogue as c

# every AI provider's budget (shared/runtime/ai.py): selection's modules and tests name it from here
from shared.runtime.ai import BudgetExceeded as BudgetExceeded
from shared.runtime.ai import Meter as Meter
from shared.runtime.ai import Usage as Usage


@runtime_checkable
class MeteredTriage(Protocol):
    """A triage provider that also reports what the job cost (the handler records it in the results)."""

    async def triage_metered(
        self, items: Sequence[TriageItem], *, context: str
    ) -> tuple[list[c.Verdict], Usage]:
        """The verdicts, as ``TriageProvider.triage``'s, and the tokens spent on them."""
        ...
