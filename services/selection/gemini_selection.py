"""Selection with Gemini: the best ``count`` candidates for a post, grouped into scenes (DDR-043).

Implements ``SelectionProvider`` (services/selection/selection_provider.py) on ``GeminiCaller``: each
candidate's thumbnail inline (a video's preview by file), its metadata and triage reason in the prompt,
the trip context, and structured output decoded into ``ModelSelection``. Up to
``SHOEBOX_AI_SELECTION_ONE_STAGE_LIMIT`` candidates, one request sees them all. Above it, two stages: the
candidates in capture-time order are cut into chunks of at most the limit (at their largest time gaps, so a
chunk is a run of scenes), each chunk answers a shortlist with its scenes and exclusions, and one final
request over the shortlists picks and ranks. The answer is loose by design: the handler's reconcile checks
every candidate appears exactly once and repairs what is unambiguous; ids the model invented are dropped
here (they name no candidate).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Literal

import msgspec
from google.genai import types

from services.selection.gemini import GeminiProvider, describe, media_part
from services.selection.metering import Meter
from services.selection.providers import ProviderError
from services.selection.selection_provider import SelectionAnswer, SelectionError, SelectionItem
from shared.events.catalogue import GeoPoint
from shared.events.selection_results import Exclusion, Pick, SceneGroup
from shared.runtime import telemetry

log = logging.getLogger("shoebox.selection.gemini")

#: rough output tokens of one item in a selection answer
ITEM_TOKENS = 80


class ModelPick(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    scene: str
    reason: str
    comparison: str | None = None  # where it beat a near rival: how


class ModelExclusion(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    category: Literal["near_duplicate", "quality", "off_context", "redundant_scene"]
    reason: str
    duplicate_of: str | None = None  # the id preferred, with near_duplicate


class ModelScene(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    items: list[str]


class ModelSelection(msgspec.Struct, frozen=True, kw_only=True):
    """The model's answer: picks in rank order, every other item excluded, the scenes."""

    selected: list[ModelPick]
    excluded: list[ModelExclusion]
    scene_groups: list[ModelScene]


SELECTION_SYSTEM = """You pick the best photos and videos of a trip for a social media post.
Prefer sharp, well exposed, meaningful shots that fit the trip; cover every scene before taking a second item
from one; of near-duplicates (bursts, the same view) pick only the best and exclude the others as
near_duplicate naming the one preferred. Group the items into scenes (time and place). Answer every item
exactly once: in selected (best first, with its scene, a reason and, where it beat a near rival, a comparison)
or in excluded (with a category and a reason). Use the items' ids exactly."""


def chunks(items: Sequence[SelectionItem], limit: int) -> list[list[SelectionItem]]:
    """``items`` in capture-time order cut into runs of at most ``limit``, each cut at the largest time gap
    of its window (items without a time go last, in name order)."""
    far = dt.datetime.max

    def when(i: SelectionItem) -> dt.datetime:
        t = i.metadata.captured_at
        return far if t is None else t.replace(tzinfo=None)

    ordered = sorted(items, key=lambda i: (when(i), i.name))
    out: list[list[SelectionItem]] = []
    while len(ordered) > limit:
        window = ordered[: limit + 1]
        gaps = [
            (when(window[k + 1]) - when(window[k])) if when(window[k]) != far else dt.timedelta(0)
            for k in range(len(window) - 1)
        ]
        cut = max(range(len(gaps)), key=lambda k: (gaps[k], k)) + 1
        cut = max(cut, (limit + 1) // 2)  # never a sliver: at least half a chunk
        out.append(ordered[:cut])
        ordered = ordered[cut:]
    out.append(ordered)
    return out


class GeminiSelection(GeminiProvider):
    """``SelectionProvider`` on Gemini; see the module's doc."""

    async def select(
        self, items: Sequence[SelectionItem], *, context: str, count: int | None
    ) -> SelectionAnswer:
        meter = Meter(self.caller.ai.session_token_budget)
        limit = self.caller.ai.selection_one_stage_limit
        try:
            with telemetry.tracer().start_as_current_span("gemini.select") as span:
                span.set_attribute("shoebox.items", len(items))
                if len(items) <= limit:
                    answer = await self.ask(items, context, count, meter, "selection")
                else:
                    answer = await self.two_stages(items, context, count, meter, limit)
                span.set_attribute("gen_ai.usage.input_tokens", meter.usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", meter.usage.output_tokens)
        except ProviderError as exc:
            raise SelectionError(f"The gemini provider failed: {exc}") from exc
        return msgspec.structs.replace(answer, tokens=meter.usage.total_tokens)

    async def two_stages(
        self, items: Sequence[SelectionItem], context: str, count: int | None, meter: Meter, limit: int
    ) -> SelectionAnswer:
        """Per-chunk shortlists (with their scenes and exclusions), then one final pick over them."""
        runs = chunks(items, limit)
        share = max(1, limit // len(runs))
        shortlist: list[SelectionItem] = []
        excluded: list[Exclusion] = []
        scenes: list[SceneGroup] = []
        scene_of: dict[str, str] = {}
        by_key = {i.key: i for i in items}
        for n, run in enumerate(runs, 1):
            want = min(len(run), share if count is None else min(share, max(count, 1)))
            part = await self.ask(run, context, want, meter, f"selection shortlist {n} of {len(runs)}")
            for s in part.scene_groups:
                sid = f"s{len(scenes) + 1}"
                scenes.append(msgspec.structs.replace(s, id=sid))
                scene_of.update((k, sid) for k in s.items)
            shortlist += [by_key[p.key] for p in part.selected if p.key in by_key]
            excluded += part.excluded
        final = await self.ask(shortlist, context, count, meter, "selection final pick")
        selected = [msgspec.structs.replace(p, scene=scene_of.get(p.key, p.scene)) for p in final.selected]
        return SelectionAnswer(selected=selected, excluded=excluded + final.excluded, scene_groups=scenes)

    async def ask(
        self, items: Sequence[SelectionItem], context: str, count: int | None, meter: Meter, what: str
    ) -> SelectionAnswer:
        """One request over ``items``: the answer with ids mapped back to keys and scenes placed."""
        ids = [f"m{n + 1:03d}" for n in range(len(items))]
        by_id = dict(zip(ids, items, strict=True))
        parts: list[types.Part] = []
        estimate = 600 + ITEM_TOKENS * len(items)
        lines = []
        for i, item in by_id.items():
            verdict = f"; triage: {item.triage.reason}" if item.triage is not None else ""
            lines.append(f"{i}: {describe(item)}{verdict}")
            parts.append(types.Part.from_text(text=f"Item {i}:"))
            part, tokens = await media_part(self.caller, self.store, item)
            parts.append(part)
            estimate += tokens
        wanted = "every item, ranked" if count is None else f"the best {min(count, len(items))}"
        prompt = (
            f"Trip: {context.strip() or '(not described)'}\nSelect {wanted}.\n"
            f"{len(ids)} item(s), each shown above after its id:\n" + "\n".join(lines)
        )
        parts.append(types.Part.from_text(text=prompt))
        estimate += len(prompt) // 4
        answer = await self.caller.generate(
            model=self.caller.ai.selection_model,
            system=SELECTION_SYSTEM,
            parts=parts,
            answer=ModelSelection,
            meter=meter,
            estimate=estimate,
            what=what,
        )
        return to_answer(answer, by_id)


def to_answer(answer: ModelSelection, by_id: dict[str, SelectionItem]) -> SelectionAnswer:
    """The model's ids as keys; invented ids dropped (logged); scenes with their time range and place."""
    ids = [p.id for p in answer.selected] + [e.id for e in answer.excluded]
    invented = sorted({i for i in ids if i not in by_id})
    if invented:
        log.warning("gemini selection: ignored ids not among the candidates: %s", invented[:10])
    selected = [
        Pick(
            key=by_id[p.id].key,
            name=by_id[p.id].name,
            rank=n,
            scene=p.scene,
            reason=p.reason,
            comparison=p.comparison,
        )
        for n, p in enumerate((p for p in answer.selected if p.id in by_id), 1)
    ]
    excluded = [
        Exclusion(
            key=by_id[e.id].key,
            name=by_id[e.id].name,
            category=e.category,
            reason=e.reason,
            duplicate_of=by_id[e.duplicate_of].key if e.duplicate_of in by_id else None,
        )
        for e in answer.excluded
        if e.id in by_id
    ]
    scenes = []
    for s in answer.scene_groups:
        members = [by_id[i] for i in s.items if i in by_id]
        times = [m.metadata.captured_at for m in members if m.metadata.captured_at is not None]
        points = [m.metadata.gps for m in members if m.metadata.gps is not None]
        place = (
            GeoPoint(
                lat=sum(p.lat for p in points) / len(points), lon=sum(p.lon for p in points) / len(points)
            )
            if points
            else None
        )
        scenes.append(
            SceneGroup(
                id=s.id,
                label=s.label,
                start=min(times, key=lambda t: t.replace(tzinfo=None)) if times else None,
                end=max(times, key=lambda t: t.replace(tzinfo=None)) if times else None,
                place=place,
                items=[m.key for m in members],
            )
        )
    return SelectionAnswer(selected=selected, excluded=excluded, scene_groups=scenes)
