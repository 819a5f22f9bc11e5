"""The triage results file: every verdict of one triage run, in S3 (verdicts can exceed an event's 64 KB).

``triage.completed`` carries its key (``results_key``); the API reads it to show keep and discard lists.
"""

from __future__ import annotations

import msgspec

from services.selection.metering import Usage
from shared.events import catalogue as c
from shared.runtime.inbound import RESULTS

CONTENT_TYPE = "application/json"


class TriageResults(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    attempt: int
    provider: str  # "offline", "gemini"
    verdicts: list[c.Verdict]  # one per processed file, in file-name order
    gaps: list[str] = msgspec.field(default_factory=list)  # expected files that never arrived (first 100)
    gaps_count: int = 0  # all of them
    usage: Usage | None = None  # the tokens an AI provider spent (None: the offline provider)

    @property
    def keep(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict == "keep")

    @property
    def discard(self) -> int:
        return sum(1 for v in self.verdicts if v.verdict == "discard")


def results_key(session_id: str, job_id: str, attempt: int) -> str:
    """``results/<session>/triage-<job>-<attempt>.json``: one file per attempt, so a retry never
    overwrites what an earlier attempt's ``triage.completed`` points at."""
    return f"{RESULTS}/{session_id}/triage-{job_id}-{attempt}.json"


def encode(results: TriageResults) -> bytes:
    return msgspec.json.encode(results)


def decode(data: bytes) -> TriageResults:
    return msgspec.json.decode(data, type=TriageResults)
