"""Checks a selection provider's answer against its candidates, and repairs what is unambiguous.

Every candidate must appear exactly once across picks and exclusions. The rules, for any provider:

- an item the answer leaves out is excluded as ``not_evaluated`` (never silently lost);
- an item the answer invents (a key it was not given) is removed, wherever it appears;
- an item picked more than once keeps its best rank; one excluded more than once is kept once when the
  copies agree on the category, else the answer is rejected (which one did the provider mean?);
- an item both picked and excluded is rejected (contradictory);
- a ``near_duplicate`` must name another candidate as ``duplicate_of``, else the answer is rejected;
- more picks than the count asked for: the lowest ranked go to ``excluded`` (``quality``);
- ranks are renumbered 1..n in rank order; a pick's unknown scene is cleared; scene groups keep only
  candidates, each in its first group.

``AnswerRejected`` carries the reason; the handler fails the job with it (``provider_error``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from services.selection.selection_provider import SelectionAnswer
from shared.events.selection_results import Exclusion, Pick, SceneGroup


class AnswerRejected(Exception):
    """The answer cannot be repaired without guessing; the message says why."""


class Reconciled(msgspec.Struct, frozen=True, kw_only=True):
    selected: list[Pick]  # ranks 1..n
    excluded: list[Exclusion]  # in candidate order
    scene_groups: list[SceneGroup]
    repairs: list[str]  # one sentence per kind of repair made


def _few(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:5])
    return f"{shown}, …" if len(keys) > 5 else shown


def reconcile(candidates: Mapping[str, str], answer: SelectionAnswer, *, count: int | None) -> Reconciled:
    """``candidates``: key -> file name, in file-name order. Returns the repaired answer, or raises
    ``AnswerRejected``."""
    repairs: list[str] = []
    invented = sorted(
        {p.key for p in answer.selected if p.key not in candidates}
        | {e.key for e in answer.excluded if e.key not in candidates}
    )
    if invented:
        repairs.append(f"removed {len(invented)} item(s) that are not in the session: {_few(invented)}")

    picks: dict[str, Pick] = {}
    repeated_picks: list[str] = []
    # a stable sort on the given rank: ties keep the answer's order
    for p in sorted((p for p in answer.selected if p.key in candidates), key=lambda p: p.rank):
        if p.key in picks:
            repeated_picks.append(p.key)
            continue
        picks[p.key] = p
    if repeated_picks:
        repairs.append(f"kept the best rank of {len(repeated_picks)} item(s) picked more than once")

    exclusions: dict[str, Exclusion] = {}
    repeated_exclusions: list[str] = []
    for e in answer.excluded:
        if e.key not in candidates:
            continue
        if (first := exclusions.get(e.key)) is not None:
            if first.category != e.category:
                raise AnswerRejected(
                    f"{candidates[e.key]} is excluded twice with different categories "
                    f"({first.category}, {e.category})"
                )
            repeated_exclusions.append(e.key)
            continue
        exclusions[e.key] = e
    if repeated_exclusions:
        repairs.append(f"kept one of the repeated exclusions of {len(repeated_exclusions)} item(s)")

    both = sorted(set(picks) & set(exclusions))
    if both:
        raise AnswerRejected(
            f"{len(both)} item(s) are both picked and excluded: {_few([candidates[k] for k in both])}"
        )
    for e in exclusions.values():
        if e.category == "near_duplicate" and (
            e.duplicate_of is None or e.duplicate_of not in candidates or e.duplicate_of == e.key
        ):
            raise AnswerRejected(
                f"{candidates[e.key]} is called a near-duplicate of {e.duplicate_of!r}, "
                "which is not another item of the session"
            )

    ordered = list(picks.values())
    if count is not None and len(ordered) > count:
        surplus = ordered[count:]
        ordered = ordered[:count]
        repairs.append(f"moved {len(surplus)} pick(s) beyond the {count} asked for to the exclusions")
        for rank, p in enumerate(surplus, start=count + 1):
            exclusions[p.key] = Exclusion(
                key=p.key,
                name=candidates[p.key],
                category="quality",
                reason=f"Ranked {rank}, below the {count} requested.",
            )

    scenes = [g for g in answer.scene_groups]
    scene_ids = {g.id for g in scenes}
    selected: list[Pick] = []
    unknown_scene = 0
    for rank, p in enumerate(ordered, start=1):
        scene = p.scene
        if scene is not None and scene not in scene_ids:
            scene, unknown_scene = None, unknown_scene + 1
        dup = p.duplicate_of if p.duplicate_of in candidates and p.duplicate_of != p.key else None
        selected.append(
            msgspec.structs.replace(p, rank=rank, scene=scene, name=candidates[p.key], duplicate_of=dup)
        )
    if unknown_scene:
        repairs.append(f"cleared the unknown scene of {unknown_scene} pick(s)")

    dropped = [k for k in candidates if k not in picks and k not in exclusions]
    if dropped:
        repairs.append(
            f"excluded {len(dropped)} item(s) the answer left out as not evaluated: "
            f"{_few([candidates[k] for k in dropped])}"
        )
        for k in dropped:
            exclusions[k] = Exclusion(
                key=k,
                name=candidates[k],
                category="not_evaluated",
                reason="The selection's answer did not mention this item, so it was not evaluated.",
            )
    excluded = [
        msgspec.structs.replace(exclusions[k], name=candidates[k]) for k in candidates if k in exclusions
    ]

    seen: set[str] = set()
    groups: list[SceneGroup] = []
    for g in scenes:
        keys = [k for k in g.items if k in candidates and k not in seen]
        seen.update(keys)
        groups.append(msgspec.structs.replace(g, items=keys))
    return Reconciled(selected=selected, excluded=excluded, scene_groups=groups, repairs=repairs)
