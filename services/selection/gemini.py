"""The Gemini provider of triage: its requests, and the checks on what it answers.

Every request goes through shared/runtime/gemini.py's ``GeminiCaller`` (one per process: the key from the
settings or from SSM, read once, never logged; ``GeminiCaller.generate``: structured output whose JSON schema
is generated from the msgspec type the answer is decoded into, the client's own ``HttpRetryOptions`` for 429,
5xx, timeouts and connection errors, tenacity for what the client does not retry (an answer that is not the
JSON asked for: truncated, or repeating an item with two verdicts), the job's ``Meter`` checked before and fed
after, and a span with the request's token counts). Video previews go through the Files API and are used once
they are ``ACTIVE`` (``GeminiCaller.upload_video``; the reference's "check Gemini" step).

``GeminiTriage`` implements ``TriageProvider`` (and ``MeteredTriage``) with it: thumbnails inline (never
originals), previews by file, the trip context and each item's metadata in the prompt, batches of
``SHOEBOX_AI_TRIAGE_BATCH_SIZE``, and every item of a batch answered exactly once (see ``check_batch``).
docs/triage.md "Gemini" describes the whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec
from google.genai import types

from services.selection.metering import Meter, Usage
from services.selection.providers import TriageItem
from services.selection.selection_provider import SelectionItem
from shared.events import catalogue as c
from shared.runtime import telemetry
from shared.runtime.ai import Unreadable
from shared.runtime.gemini import GeminiCaller
from shared.runtime.storage import ObjectStore

log = logging.getLogger("shoebox.selection.gemini")

#: rough prompt tokens of one image at the API's default resolution (the budget's estimate, before sending)
IMAGE_TOKENS = 300
#: rough prompt tokens of one video preview (~300 tokens a second at default resolution, ~15 s)
VIDEO_TOKENS = 4500
#: rough output tokens of one item's verdict
VERDICT_TOKENS = 60


# --------------------------------------------------------------------------- triage
class ModelVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """One item's verdict as the model answers it (``id`` is the item's label in the prompt)."""

    id: str
    verdict: Literal["keep", "discard"]
    reason: Annotated[str, msgspec.Meta(description="One sentence a person would understand")]
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class TriageAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The whole answer to one batch: one verdict per item."""

    verdicts: list[ModelVerdict]


TRIAGE_SYSTEM = """You triage a person's trip photos and videos: keep or discard, not ranking.
Discard only what nobody would want: unrecoverably dark (nothing visible even after brightening), blurred
beyond recognition, accidental (pocket, floor, lens cap, black frame), blown out with the subject gone;
videos under 2 seconds or showing nothing. Keep when in doubt: dark-but-visible, slightly soft, badly composed
but clear, night shots with lights, snow or white backgrounds. Judge what a light edit (crop, brightness,
sharpening) could recover. Answer every item exactly once, by its id, with a one-sentence reason and your
confidence in 0..1."""

#: the verdict an item the model left out (twice) gets: kept, as the reference system did
NOT_EVALUATED = "Not evaluated by Gemini (its answer left this item out); kept (keep when in doubt)."


def describe(item: TriageItem | SelectionItem) -> str:
    """One line of what is known about an item: kind, name, time, place, camera, duration, size."""
    m = item.metadata
    bits = [f"{item.kind}, {item.name}"]
    if m.captured_at is not None:
        bits.append(f"taken {m.captured_at.isoformat()}" + (f" {m.utc_offset}" if m.utc_offset else ""))
    if m.gps is not None:
        bits.append(f"at {m.gps.lat:.5f},{m.gps.lon:.5f}")
    camera = " ".join(x for x in (m.make, m.model) if x)
    if camera:
        bits.append(f"camera {camera}")
    if m.duration_s is not None:
        bits.append(f"{m.duration_s:.1f} s")
    if m.width and m.height:
        bits.append(f"{m.width}x{m.height}")
    return "; ".join(bits)


def check_batch(ids: Sequence[str], answer: TriageAnswer) -> dict[str, ModelVerdict]:
    """The answer's verdicts by id, checked against the batch: ids not in the batch are ignored (logged),
    an item answered twice alike is taken once, an item answered twice differently is ``Unreadable`` (asked
    again: which one is meant is not clear). Items left out are simply absent (the caller asks again)."""
    wanted = set(ids)
    out: dict[str, ModelVerdict] = {}
    invented = []
    for v in answer.verdicts:
        if v.id not in wanted:
            invented.append(v.id)
            continue
        seen = out.get(v.id)
        if seen is not None and seen.verdict != v.verdict:
            raise Unreadable(f"item {v.id} was answered both {seen.verdict} and {v.verdict}")
        out.setdefault(v.id, v)
    if invented:
        log.warning("gemini triage: ignored verdicts for ids not in the batch: %s", invented[:10])
    return out


class GeminiProvider:
    """What triage's and selection's Gemini providers share: the caller (client, retries, budget) and the
    store their thumbnails and previews are read from."""

    def __init__(self, caller: GeminiCaller, store: ObjectStore) -> None:
        self.caller = caller
        self.store = store

    @property
    def name(self) -> str:
        return "gemini"


class GeminiTriage(GeminiProvider):
    """``TriageProvider`` on Gemini; see the module's doc."""

    async def triage(self, items: Sequence[TriageItem], *, context: str) -> list[c.Verdict]:
        verdicts, _ = await self.triage_metered(items, context=context)
        return verdicts

    async def triage_metered(
        self, items: Sequence[TriageItem], *, context: str
    ) -> tuple[list[c.Verdict], Usage]:
        ai = self.caller.ai
        meter = Meter(ai.session_token_budget)
        out: list[c.Verdict] = []
        size = ai.triage_batch_size
        with telemetry.tracer().start_as_current_span("gemini.triage") as span:
            span.set_attribute("shoebox.items", len(items))
            for start in range(0, len(items), size):
                batch = list(items[start : start + size])
                out.extend(await self.batch(batch, context, meter, f"batch {start // size + 1}"))
            span.set_attribute("gen_ai.usage.input_tokens", meter.usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", meter.usage.output_tokens)
        return out, meter.usage

    async def batch(
        self, items: Sequence[TriageItem], context: str, meter: Meter, what: str
    ) -> list[c.Verdict]:
        """One batch's verdicts, every item exactly once: the items the answer left out are asked again
        once, alone; still left out, they are kept as not evaluated."""
        ids = [f"m{i + 1:02d}" for i in range(len(items))]
        by_id = dict(zip(ids, items, strict=True))
        parts, estimate = await self.parts(ids, by_id, context)
        got = await self.ask(ids, parts, estimate, meter, what)
        missing = [i for i in ids if i not in got]
        if missing:
            log.warning("gemini triage %s: %d item(s) left out, asking again", what, len(missing))
            parts, estimate = await self.parts(missing, by_id, context)
            got.update(await self.ask(missing, parts, estimate, meter, f"{what} (left out)"))
        verdicts = []
        for i in ids:
            key = by_id[i].key
            v = got.get(i)
            if v is None:
                verdicts.append(c.Verdict(key=key, verdict="keep", reason=NOT_EVALUATED, confidence=0.5))
            else:
                verdicts.append(
                    c.Verdict(key=key, verdict=v.verdict, reason=v.reason, confidence=v.confidence)
                )
        return verdicts

    async def ask(
        self, ids: Sequence[str], parts: Sequence[types.Part], estimate: int, meter: Meter, what: str
    ) -> dict[str, ModelVerdict]:
        checked: dict[str, ModelVerdict] = {}

        def check(answer: TriageAnswer) -> None:
            checked.clear()
            checked.update(check_batch(ids, answer))

        await self.caller.generate(
            model=self.caller.ai.triage_model,
            system=TRIAGE_SYSTEM,
            parts=parts,
            answer=TriageAnswer,
            meter=meter,
            estimate=estimate,
            what=f"triage {what}",
            check=check,
        )
        return dict(checked)

    async def parts(
        self, ids: Sequence[str], by_id: dict[str, TriageItem], context: str
    ) -> tuple[list[types.Part], int]:
        """The request's parts (each item's label, then its thumbnail inline or its preview by file; then
        the prompt) and its token estimate."""
        parts: list[types.Part] = []
        estimate = 400 + VERDICT_TOKENS * len(ids)
        lines = []
        for i in ids:
            item = by_id[i]
            lines.append(f"{i}: {describe(item)}")
            parts.append(types.Part.from_text(text=f"Item {i}:"))
            part, tokens = await media_part(self.caller, self.store, item)
            parts.append(part)
            estimate += tokens
        prompt = (
            f"Trip: {context.strip() or '(not described)'}\n"
            f"{len(ids)} item(s), each shown above after its id:\n" + "\n".join(lines)
        )
        parts.append(types.Part.from_text(text=prompt))
        estimate += len(prompt) // 4
        return parts, estimate


async def media_part(
    caller: GeminiCaller, store: ObjectStore, item: TriageItem | SelectionItem
) -> tuple[types.Part, int]:
    """What the model looks at for one item, and its token estimate: a video's preview by file (Files API),
    else the thumbnail inline; a text note when there is neither. ``item`` has ``kind``, ``name``,
    ``thumbnail`` and ``preview`` (a triage or a selection item). Never an original."""
    if item.kind == "video" and item.preview:
        data = await store.get(item.preview)
        return await caller.upload_video(data, mime_type="video/mp4", name=item.name), VIDEO_TOKENS
    if item.thumbnail:
        data = await store.get(item.thumbnail)
        return types.Part.from_bytes(data=data, mime_type="image/jpeg"), IMAGE_TOKENS
    return types.Part.from_text(text="(no image: judge from the description)"), 0
