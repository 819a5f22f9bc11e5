"""Properties of ``reconcile``: whatever a provider answers, the result names every candidate exactly once
(a dropped item as ``not_evaluated``, an invented one removed, a repeat kept once), or the answer is rejected
for a stated reason, and only when the answer contradicts itself."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.selection.reconcile import AnswerRejected, Reconciled, reconcile
from services.selection.selection_provider import SelectionAnswer
from shared.events.selection_results import Exclusion, ExclusionCategory, Pick, SceneGroup

CATEGORIES = [c for c in get_args(ExclusionCategory) if c != "near_duplicate"]


def _keys(n: int) -> dict[str, str]:
    return {f"uploads/s/{i:03}.jpg": f"{i:03}.jpg" for i in range(n)}


def _pick(key: str, rank: int, scene: str | None = "s1") -> Pick:
    return Pick(key=key, name="?", rank=rank, scene=scene, reason="good")


def _exclude(key: str, category: ExclusionCategory = "quality", dup: str | None = None) -> Exclusion:
    return Exclusion(key=key, name="?", category=category, reason="weaker", duplicate_of=dup)


def _assert_exactly_once(candidates: dict[str, str], out: Reconciled) -> None:
    named = [p.key for p in out.selected] + [e.key for e in out.excluded]
    assert sorted(named) == sorted(candidates)
    assert [p.rank for p in out.selected] == list(range(1, len(out.selected) + 1))
    assert all(p.name == candidates[p.key] for p in out.selected)
    assert all(e.name == candidates[e.key] for e in out.excluded)


@st.composite
def loose_answers(draw: st.DrawFn) -> tuple[dict[str, str], SelectionAnswer, int | None, set[str]]:
    """A self-consistent answer with drops, repeats (that agree) and inventions: always repairable."""
    candidates = _keys(draw(st.integers(1, 15)))
    keys = list(candidates)
    picks: list[Pick] = []
    excluded: list[Exclusion] = []
    dropped: set[str] = set()
    for key in keys:
        fate = draw(st.sampled_from(["pick", "exclude", "duplicate", "drop"]))
        if fate == "pick":
            picks.append(_pick(key, draw(st.integers(1, 50))))
        elif fate == "exclude":
            excluded.append(_exclude(key, draw(st.sampled_from(CATEGORIES))))
        elif fate == "duplicate" and len(keys) > 1:
            other = draw(st.sampled_from([k for k in keys if k != key]))
            excluded.append(_exclude(key, "near_duplicate", other))
        else:
            dropped.add(key)
    repeats_p = draw(st.lists(st.sampled_from(picks), max_size=4)) if picks else []
    picks += [_pick(p.key, p.rank + draw(st.integers(0, 5))) for p in repeats_p]
    excluded += draw(st.lists(st.sampled_from(excluded), max_size=4)) if excluded else []
    invented = draw(st.lists(st.from_regex(r"uploads/x/[a-z]{1,5}\.jpg", fullmatch=True), max_size=3))
    picks += [_pick(k, 1) for k in invented[:1]]
    excluded += [_exclude(k) for k in invented[1:]]
    order = draw(st.permutations(range(len(excluded))))
    excluded = [excluded[i] for i in order]
    count = draw(st.none() | st.integers(1, 20))
    answer = SelectionAnswer(
        selected=picks,
        excluded=excluded,
        scene_groups=[SceneGroup(id="s1", label="Scene 1", items=[*keys, *invented])],
    )
    return candidates, answer, count, dropped


@given(loose_answers())
def test_a_repairable_answer_is_repaired_to_every_item_exactly_once(
    case: tuple[dict[str, str], SelectionAnswer, int | None, set[str]],
) -> None:
    candidates, answer, count, dropped = case
    out = reconcile(candidates, answer, count=count)
    _assert_exactly_once(candidates, out)
    assert {e.key for e in out.excluded if e.category == "not_evaluated"} >= dropped
    if count is not None:
        assert len(out.selected) <= count
    assert all(k in candidates for g in out.scene_groups for k in g.items)
    if dropped:
        assert any("left out" in r for r in out.repairs)


@st.composite
def any_answers(draw: st.DrawFn) -> tuple[dict[str, str], SelectionAnswer, int | None]:
    """Anything at all over a few keys, real and invented, contradictions included."""
    candidates = _keys(draw(st.integers(1, 6)))
    pool = [*candidates, "uploads/x/made-up.jpg"]
    key = st.sampled_from(pool)
    picks = draw(
        st.lists(st.builds(_pick, key, st.integers(-3, 9), st.sampled_from([None, "s1", "s9"])), max_size=8)
    )
    excluded = draw(
        st.lists(
            st.builds(_exclude, key, st.sampled_from(get_args(ExclusionCategory)), st.none() | key),
            max_size=8,
        )
    )
    return candidates, SelectionAnswer(selected=picks, excluded=excluded), draw(st.none() | st.integers(1, 5))


@given(any_answers())
def test_any_answer_is_either_repaired_to_exactly_once_or_rejected_with_a_reason(
    case: tuple[dict[str, str], SelectionAnswer, int | None],
) -> None:
    candidates, answer, count = case
    out: Reconciled | AnswerRejected
    try:
        out = reconcile(candidates, answer, count=count)
    except AnswerRejected as e:
        out = e
    if isinstance(out, AnswerRejected):
        assert str(out)  # a stated reason
        return
    _assert_exactly_once(candidates, out)
    assert all(p.scene in (None, "s1") for p in out.selected)  # "s9" names no scene: cleared


def test_an_item_both_picked_and_excluded_is_rejected() -> None:
    candidates = _keys(2)
    a, b = candidates
    answer = SelectionAnswer(selected=[_pick(a, 1)], excluded=[_exclude(a), _exclude(b)])
    with pytest.raises(AnswerRejected, match="both picked and excluded"):
        reconcile(candidates, answer, count=None)


def test_an_item_excluded_twice_for_different_reasons_is_rejected() -> None:
    candidates = _keys(1)
    [a] = candidates
    answer = SelectionAnswer(selected=[], excluded=[_exclude(a, "quality"), _exclude(a, "off_context")])
    with pytest.raises(AnswerRejected, match="different categories"):
        reconcile(candidates, answer, count=None)


def test_a_near_duplicate_of_nothing_is_rejected() -> None:
    candidates = _keys(2)
    a, _ = candidates
    answer = SelectionAnswer(selected=[], excluded=[_exclude(a, "near_duplicate", "uploads/x/nope.jpg")])
    with pytest.raises(AnswerRejected, match="near-duplicate"):
        reconcile(candidates, answer, count=None)


def test_dropped_invented_repeated_and_surplus_are_repaired_and_said() -> None:
    candidates = _keys(4)
    a, b, c_, d = candidates
    answer = SelectionAnswer(
        selected=[_pick(b, 2), _pick(a, 1), _pick(a, 7), _pick("uploads/x/ghost.jpg", 3), _pick(c_, 5)],
        excluded=[],
        scene_groups=[SceneGroup(id="s1", label="Scene 1", items=[a, b, c_, d])],
    )
    out = reconcile(candidates, answer, count=2)
    assert [(p.key, p.rank) for p in out.selected] == [(a, 1), (b, 2)]
    assert [(e.key, e.category) for e in out.excluded] == [(c_, "quality"), (d, "not_evaluated")]
    assert len(out.repairs) == 4  # invented, repeated, surplus, dropped
