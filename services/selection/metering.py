"""Token usage of an AI provider's job, and the per-session budget it must stay within.

A provider that calls a paid model meters every request into one ``Meter`` per job: the job's results file
records the ``Usage``, each request's span carries its own counts, and a request that would take the job past
its budget is never sent (``BudgetExceeded``: the job fails clearly instead of overspending).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from services.selection.providers import ProviderError, TriageItem
from shared.events import catalogue as c


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens one job spent, as the model's answers counted them."""

    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class BudgetExceeded(ProviderError):
    """The next request would take the job past its token budget (``SHOEBOX_AI_SESSION_TOKEN_BUDGET``)."""


class Meter:
    """Counts one job's tokens against its budget. Not shared between jobs."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.usage = Usage()

    def check(self, estimate: int, what: str) -> None:
        """Raise ``BudgetExceeded`` when ``estimate`` more tokens would take the job past its budget."""
        if self.usage.total_tokens + estimate > self.budget:
            raise BudgetExceeded(
                f"token budget exceeded: {what} needs about {estimate} tokens, the job has spent "
                f"{self.usage.total_tokens} of its {self.budget} (SHOEBOX_AI_SESSION_TOKEN_BUDGET)"
            )

    def add(self, prompt: int, output: int, total: int) -> None:
        """One answered request's counts."""
        u = self.usage
        self.usage = Usage(
            requests=u.requests + 1,
            prompt_tokens=u.prompt_tokens + prompt,
            output_tokens=u.output_tokens + output,
            total_tokens=u.total_tokens + max(total, prompt + output),
        )


@runtime_checkable
class MeteredTriage(Protocol):
    """A triage provider that also reports what the job cost (the handler records it in the results)."""

    async def triage_metered(
        self, items: Sequence[TriageItem], *, context: str
    ) -> tuple[list[c.Verdict], Usage]:
        """The verdicts, as ``TriageProvider.triage``'s, and the tokens spent on them."""
        ...
