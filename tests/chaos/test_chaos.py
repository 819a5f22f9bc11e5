"""The chaos runs' fast subset (``task chaos`` runs the campaign, docs/chaos.md): two seeded runs under
kills, crash points and doubled, shuffled deliveries, which must find nothing; and the failing run kept,
the same harness on a stack whose processors keep no tracking record, which must find the work done twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.runtime.config import Settings
from tests.chaos import media
from tests.chaos.harness import ChaosConfig, Summary, line, run_campaign

pytestmark = [
    pytest.mark.stack,
    pytest.mark.slow,
    pytest.mark.chaos,
]


def report(summary: Summary) -> str:
    return "\n".join([*(line(r) for r in summary.runs), summary.text()])


@pytest.mark.timeout(900)
def test_two_seeded_chaos_runs_lose_nothing_double_nothing_and_leave_nothing_stuck(
    tmp_path: Path, suite_settings: Settings
) -> None:
    summary = run_campaign(ChaosConfig(runs=2, seed=11), suite_settings, work=tmp_path)
    figures = summary.figures()
    assert summary.problems() == 0, report(summary)
    assert figures["files"] == 2 * media.COUNT
    assert figures["kills_total"] >= 2, "the killer killed in the runs (progress points, not times)"


@pytest.mark.timeout(600)
def test_without_the_tracking_record_the_chaos_run_finds_the_work_done_twice(
    tmp_path: Path, suite_settings: Settings
) -> None:
    """The failing run, kept: with the tracking record switched off every doubled delivery runs its
    handler again. (The log itself stays exact without it: a handler's events have ids derived from the
    message, so a second commit of them is refused; what the record saves is the work and its effects
    outside the log, thumbnails written again, a provider asked twice.)"""
    summary = run_campaign(
        ChaosConfig(runs=1, seed=12, tracking=False, clean=False), suite_settings, work=tmp_path
    )
    figures = summary.figures()
    assert figures["handled_twice"] > 0, report(summary)
    assert summary.problems() > 0
