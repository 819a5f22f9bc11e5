"""What every AI provider shares, whatever model is behind it: its error, and the token budget of a job.

A provider that calls a paid model meters every request into one ``Meter`` per job: the job's results record
the ``Usage``, each request's span carries its own counts, and a request that would take the job past its
budget is never sent (``BudgetExceeded``: the job fails clearly instead of overspending). Nothing here imports
a model's client, so an offline provider can raise ``ProviderError`` without carrying one.
"""

from __future__ import annotations

import msgspec


class ProviderError(Exception):
    """The provider could not do its work (the AI service failed, or answered nonsense past its attempts)."""


class Unreadable(ProviderError):
    """An answer that is not what was asked for (not JSON, truncated, inconsistent, no image): asked again."""


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
