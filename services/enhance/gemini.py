"""The Gemini enhance provider: the image model edits (phases 1 and 3), the text model analyses (phase 2).

``GeminiEnhance`` implements ``EnhanceProvider`` (services/enhance/provider.py) on shared/runtime/gemini.py's
``GeminiCaller``, through its synchronous half: the enhance handler runs the whole pipeline in a worker thread
(``anyio.to_thread.run_sync``) on pyvips images, so each phase is a blocking request on that thread, with no
event loop needed (a plain test calls it the same way).

- What is sent: never the original. A JPEG (q90) of the working image shrunk to
  ``SHOEBOX_AI_ENHANCE_LONG_SIDE`` (2048 px) for the edits, 1024 px for the analysis; the trip, the file
  name, the history of feedback turns and the person's words in the prompt.
- Phase 1 (``creative_edit``): ``SHOEBOX_AI_ENHANCE_IMAGE_MODEL`` answering TEXT and IMAGE. The answer's
  image is decoded and, when its size differs from the working image's (an image model answers ~1 MP
  whatever it is sent), resized back to it, so every later phase and the output keep the photo's size. An
  answer with no image (or one that does not decode) is asked again within ``SHOEBOX_AI_RETRY_ATTEMPTS``,
  then a ``ProviderError`` saying so: the item fails with it.
- Phase 2 (``analyse``): ``SHOEBOX_AI_ENHANCE_ANALYSIS_MODEL`` with structured output (``ModelAnalysis``:
  score 0..10, improvements with type, normalised region, impact and instruction), decoded into
  ``Analysis``; unparseable answers are asked again, then a ``ProviderError`` (the reference took them for
  "done, 8.5").
- Phase 3 (``surgical_edit``): with ``SHOEBOX_AI_VERTEX_PROJECT`` set, an Imagen mask edit
  (services/enhance/imagen.py) on the sent copy with a mask of the copy's size; otherwise the image model
  with the region in words. Either answer is resized back and blended in under a feathered mask of the
  working image's size, so nothing outside the region changes.
"""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec
import pyvips
from google.genai import types

from services.enhance.imagen import ImagenEditor, blend, box_mask
from services.enhance.model import Analysis, Edit, Impact, Improvement, ImprovementType, Region
from services.enhance.offline import OfflineProvider
from services.enhance.provider import EditContext, EditOutcome, EnhanceProvider
from shared.runtime.ai import Unreadable
from shared.runtime.config import Settings
from shared.runtime.gemini import GeminiCaller, answer_parts, gemini_caller, gemini_configured

log = logging.getLogger("shoebox.enhance.gemini")

#: the analysis sees a smaller copy: it judges the look and names regions (normalised), 2 tiles not 6
ANALYSIS_LONG_SIDE = 1024
SENT_QUALITY = 90

EDITOR_SYSTEM = """You are a professional photo editor preparing a person's trip photos for social media.
Improve the photo as a whole: exposure, white balance, contrast and vibrance, gentle sharpening, noise, a
level horizon. Keep it natural: skin tones true, skies believable, food appetising, architecture straight.
Never add or remove significant content, never alter faces or bodies, keep the framing and the aspect ratio.
Answer with the edited image and one or two sentences saying what you changed."""

ANALYST_SYSTEM = """You review an edited photo the way a professional photo editor would, for social media.
Score it 0..10 (8.5 or more: ready to post). List what still needs work, most important first, at most 5: each
with its type, the region it is in as a box in fractions of the image's width and height (x, y = top-left
corner, w, h = size; the whole image is 0, 0, 1, 1), its impact (high, medium, low) and one instruction an
editor could follow for that region alone. Nothing left to do: an empty list."""

LOCAL_SYSTEM = """You are a professional photo editor making one local correction to a photo. Change only the
region you are told, as instructed, blending naturally into its surroundings; leave every other part of the
photo exactly as it is, and keep the framing and the aspect ratio. Answer with the edited image."""


# --------------------------------------------------------------------------- the analysis's answer
class ModelRegion(msgspec.Struct, frozen=True, kw_only=True):
    """A box in fractions of the image (origin top-left)."""

    x: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="left edge, 0..1 of the width")]
    y: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="top edge, 0..1 of the height")]
    w: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="width, 0..1 of the image's")]
    h: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="height, 0..1 of the image's")]


class ModelImprovement(msgspec.Struct, frozen=True, kw_only=True):
    type: ImprovementType
    region: ModelRegion
    impact: Impact
    instruction: Annotated[str, msgspec.Meta(description="What to do to this region, in one sentence")]


class ModelAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    """The analysis model's whole answer."""

    score: Annotated[float, msgspec.Meta(ge=0.0, le=10.0, description="0..10; 8.5 or more: ready to post")]
    improvements: list[ModelImprovement]
    summary: Annotated[str, msgspec.Meta(description="One sentence on the photo as it is now")]


def to_analysis(answer: ModelAnalysis) -> Analysis:
    """The model's answer as the pipeline's ``Analysis`` (regions clamped to the image, never trusted)."""
    improvements = tuple(
        Improvement(
            type=i.type,
            region=Region(x=i.region.x, y=i.region.y, w=i.region.w, h=i.region.h).clamped(),
            impact=i.impact,
            instruction=i.instruction.strip(),
        )
        for i in answer.improvements
    )
    return Analysis(
        score=round(min(10.0, max(0.0, answer.score)), 2), improvements=improvements, summary=answer.summary
    )


# --------------------------------------------------------------------------- images in and out
def shrunk(image: pyvips.Image, long_side: int) -> pyvips.Image:
    """``image`` with its long side at most ``long_side`` (never enlarged)."""
    return image.thumbnail_image(long_side, height=long_side, size="down")


def jpeg(image: pyvips.Image) -> bytes:
    """What is sent: a plain JPEG, no metadata."""
    return bytes(image.jpegsave_buffer(Q=SENT_QUALITY, keep="none"))


def srgb8(image: pyvips.Image) -> pyvips.Image:
    """A decoded answer as the pipeline's images are: 8-bit, 3-band sRGB."""
    if image.hasalpha():
        image = image.flatten(background=[255.0] * (image.bands - 1))
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
    if image.bands < 3:
        image = image[0].bandjoin([image[0], image[0]])
    return image.extract_band(0, n=3).copy(interpretation="srgb")


def fitted(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """``image`` at exactly ``width`` x ``height`` (an image model's answer back at the photo's size)."""
    if (image.width, image.height) == (width, height):
        return image
    return image.thumbnail_image(width, height=height, size="force")


def image_answer(response: types.GenerateContentResponse, what: str) -> tuple[pyvips.Image, str]:
    """The answer's image (decoded) and its text; ``Unreadable`` when it has no image or one that does not
    decode."""
    parts = answer_parts(response)
    text = " ".join((p.text or "").strip() for p in parts if p.text and not p.thought).strip()
    for part in parts:
        blob = part.inline_data
        if blob is not None and blob.data and (blob.mime_type or "").startswith("image/"):
            try:
                return srgb8(pyvips.Image.new_from_buffer(blob.data, "").copy_memory()), text
            except pyvips.Error as exc:
                raise Unreadable(f"the image answered to {what} does not decode: {exc}") from exc
    candidates = response.candidates or []
    reason = candidates[0].finish_reason if candidates else None
    said = f"; it said: {text[:200]!r}" if text else ""
    raise Unreadable(f"the answer to {what} has no image (finish reason {reason}){said}")


def change(a: pyvips.Image, b: pyvips.Image) -> float:
    """How much ``b`` differs from ``a`` (same size): the mean absolute difference, 0..1 of full scale."""
    return round(float((a.cast("float") - b.cast("float")).abs().avg()) / 255, 4)


def describe_region(region: Region) -> str:
    """The region in words and percentages, for a model that is not given a mask."""
    r = region.clamped()
    cx, cy = r.x + r.w / 2, r.y + r.h / 2
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    return (
        f"the {row}-{col} area: from {r.x:.0%} to {r.x + r.w:.0%} of the width (from the left) and from "
        f"{r.y:.0%} to {r.y + r.h:.0%} of the height (from the top)"
    )


# --------------------------------------------------------------------------- the provider
class GeminiEnhance:
    """``EnhanceProvider`` on Gemini (and Imagen when ``imagen`` is given); see the module's doc."""

    name = "gemini"

    def __init__(self, caller: GeminiCaller, *, imagen: ImagenEditor | None = None) -> None:
        self.caller = caller
        self.ai = caller.ai
        self.imagen = imagen

    def __repr__(self) -> str:
        return f"GeminiEnhance({self.caller!r}, imagen={self.imagen!r})"

    def edit(
        self, image: pyvips.Image, system: str, prompt: str, what: str
    ) -> tuple[pyvips.Image, pyvips.Image, str]:
        """One image-model edit of ``image``: (the sent copy, the answer at the copy's size, its text)."""
        sent = shrunk(image, self.ai.enhance_long_side)
        config = types.GenerateContentConfig(
            system_instruction=system, response_modalities=["TEXT", "IMAGE"], temperature=0.4
        )
        answer, text = self.caller.ask_sync(
            model=self.ai.enhance_image_model,
            parts=[
                types.Part.from_bytes(data=jpeg(sent), mime_type="image/jpeg"),
                types.Part.from_text(text=prompt),
            ],
            config=config,
            read=lambda response: image_answer(response, what),
            what=what,
        )
        return sent, fitted(answer, sent.width, sent.height), text

    def creative_edit(
        self, image: pyvips.Image, context: EditContext, feedback: str | None
    ) -> tuple[pyvips.Image, EditOutcome]:
        """Phase 1, or a feedback pass following the person's words (with the earlier turns)."""
        lines = [
            f"Trip: {context.trip.strip() or '(not described)'}",
            f"Photo: {context.name or '(unnamed)'}",
        ]
        if context.history:
            lines.append("Earlier requests on this photo, oldest first:")
            lines += [f'- the person: "{asked}" / you: "{answered}"' for asked, answered in context.history]
        if feedback is None:
            lines.append("Enhance this photo for social media and say what you changed.")
            what = f"enhancement phase 1 of {context.name or 'a photo'}"
        else:
            lines.append(
                f'Edit the photo as the person now asks: "{feedback.strip()}". Say what you changed.'
            )
            what = f"the feedback pass on {context.name or 'a photo'}"
        sent, answer, text = self.edit(image, EDITOR_SYSTEM, "\n".join(lines), what)
        edit = Edit(
            name="feedback" if feedback is not None else "creative-edit",
            amount=change(sent, answer),
            detail=text[:300],
        )
        return fitted(answer, image.width, image.height), EditOutcome(edits=(edit,), note=text)

    def analyse(self, image: pyvips.Image) -> Analysis:
        """Phase 2: the text model's structured review of ``image``."""
        sent = shrunk(image, min(ANALYSIS_LONG_SIDE, self.ai.enhance_long_side))
        answer = self.caller.generate_sync(
            model=self.ai.enhance_analysis_model,
            system=ANALYST_SYSTEM,
            parts=[
                types.Part.from_bytes(data=jpeg(sent), mime_type="image/jpeg"),
                types.Part.from_text(text="Review this edited photo."),
            ],
            answer=ModelAnalysis,
            what="enhancement phase 2 (analysis)",
        )
        return to_analysis(answer)

    def surgical_edit(
        self, image: pyvips.Image, improvement: Improvement
    ) -> tuple[pyvips.Image, EditOutcome]:
        """Phase 3: one regional fix, by Imagen with a mask when Vertex AI is configured, else by the image
        model with the region in words; blended in under a mask made on ``image`` itself."""
        region = improvement.region.clamped()
        what = f"enhancement phase 3 ({improvement.type})"
        if self.imagen is not None:
            sent = shrunk(image, self.ai.enhance_long_side)
            mask = box_mask(sent.width, sent.height, region)  # the sent copy's size: the image Imagen edits
            data = self.imagen.edit(
                jpeg(sent),
                bytes(mask.pngsave_buffer()),
                kind=improvement.type,
                instruction=improvement.instruction,
                what=what,
            )
            answer = fitted(srgb8(pyvips.Image.new_from_buffer(data, "")), sent.width, sent.height)
            by, note = "imagen", f"Imagen: {improvement.instruction}"
        else:
            prompt = (
                f"Edit only {describe_region(region)}: {improvement.instruction} "
                "Leave everything outside that area unchanged."
            )
            sent, answer, text = self.edit(image, LOCAL_SYSTEM, prompt, what)
            by, note = "gemini", text or improvement.instruction
        edited = blend(image, fitted(answer, image.width, image.height), region)
        amount = change(sent, blend(sent, answer, region))
        edit = Edit(
            name=improvement.type, amount=amount, region=region, detail=f"{by}: {improvement.instruction}"
        )
        return edited, EditOutcome(edits=(edit,), note=note)


def enhance_provider(settings: Settings) -> EnhanceProvider:
    """Gemini when a key (or its SSM parameter) is configured, with Imagen's mask edits when a Vertex AI
    project is; the offline provider otherwise."""
    if not gemini_configured(settings):
        return OfflineProvider()
    ai = settings.ai
    caller = gemini_caller(settings)
    imagen = ImagenEditor(caller) if ai.vertex_project.strip() else None
    log.info(
        "enhance provider: gemini (image %s, analysis %s, phase 3 %s)",
        ai.enhance_image_model,
        ai.enhance_analysis_model,
        f"imagen {ai.vertex_edit_model}" if imagen else "gemini",
    )
    return GeminiEnhance(caller, imagen=imagen)
