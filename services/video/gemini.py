"""The Gemini video provider: a clip's 720p preview and its measured figures in, ``Recommendations`` out.

``GeminiVideo`` implements ``VideoProvider`` (services/video/provider.py) on shared/runtime/gemini.py's
``GeminiCaller`` (the key from the settings or SSM, read once and never logged; the client's retries of 429,
5xx and timeouts; tenacity's re-asks of unreadable answers; a ``ProviderError`` when they run out):

- What is sent: the preview (never the original) through the Files API, used once it is ``ACTIVE`` and
  deleted once answered (or when it never became usable); no preview: the prompt says the figures are all
  there is. The analysis as named numbers with their meaning and scale (a model cannot measure luma levels
  or per-frame shake from a preview it samples about once a second), the clip's name, the trip, and on a
  feedback pass the person's sentence, the earlier turns and the previous recommendations.
- What comes back: structured output whose JSON schema is generated from ``VideoAnswer``, that is from
  ``Recommendations`` with its bounds (services/video/model.py), and the words of the sentence the controls
  cannot do.
- Out-of-range numbers are CLAMPED to the bounds, not re-asked: the schema already told the model the
  bounds, so a value past one is a clear "as much as possible" (brightness 0.6 means +0.5), and asking
  again costs a second request carrying the whole preview for the same intent. The trim is clamped to the
  clip and "trim at 0 / at the end" means no trim. What clamping cannot make sense of IS re-asked: an answer
  that is not the JSON asked for, a number that is not a number, a trim that keeps less than
  ``MIN_KEPT_S`` of the clip (out before in: which end is meant is not clear). Re-asks run within
  ``SHOEBOX_AI_RETRY_ATTEMPTS``; then a ``ProviderError`` that says why.

``video_provider(settings)`` chooses it when a Gemini key (or its SSM parameter) is configured, else the
offline provider (services/video/offline.py). docs/video.md "Gemini provider" describes the whole.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import anyio
import msgspec
import msgspec.inspect as mi
from google.genai import types

from services.video.model import Advice, Recommendations, VideoAnalysis, VideoContext
from services.video.offline import OfflineVideoProvider
from services.video.provider import VideoProvider
from shared.runtime.ai import Meter, Unreadable
from shared.runtime.config import Settings
from shared.runtime.gemini import GeminiCaller, answer_parts, gemini_caller, gemini_configured

log = logging.getLogger("shoebox.video.gemini")

#: rough prompt tokens a second of video at the API's default resolution (frames at 1 fps, and the audio)
VIDEO_TOKENS_PER_S = 300
#: rough tokens of the prompt and of the answer (the budget's estimate, before sending)
PROMPT_TOKENS = 1500
ANSWER_TOKENS = 400
#: a trim must keep at least this much of the clip (or the whole clip when it is shorter)
MIN_KEPT_S = 1.0
PREVIEW_MIME = "video/mp4"


class VideoAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The model's whole answer (its JSON schema is what the request asks for)."""

    recommendations: Recommendations
    not_understood: Annotated[
        list[str],
        msgspec.Meta(
            description="Words of the person's request that these controls cannot do (empty when all can)"
        ),
    ] = []


# --------------------------------------------------------------------------- the controls and their bounds
#: what each control does, for the system instruction (its bounds come from ``Recommendations``)
MEANINGS: dict[str, str] = {
    "brightness": "added to every level (0: none; +0.1 lifts the picture visibly)",
    "contrast": "stretches the levels around mid-grey (1: none)",
    "gamma": "lifts (>1) or deepens (<1) the mid-tones without moving black and white (1: none)",
    "saturation": "colour intensity (1: none; 0 is black and white)",
    "warmth": "white balance, -1 cooler (bluer) .. +1 warmer (more orange) (0: none)",
    "tint": "white balance, -1 greener .. +1 more magenta (0: none)",
    "stabilise": "stabilisation strength (0: none; for a shaky hand-held clip)",
    "denoise": "noise reduction strength (0: none; for grain in dark scenes)",
    "sharpen": "sharpening strength (0: none; a little for a soft clip, never on noise)",
    "trim_in_s": "start the clip here, in seconds (null: from the start)",
    "trim_out_s": "end the clip here, in seconds (null: to the end)",
    "reason": "one sentence: why these",
}


def bounds() -> dict[str, tuple[float | None, float | None]]:
    """Each numeric control's (lower, upper) bound as ``Recommendations`` declares it."""
    out: dict[str, tuple[float | None, float | None]] = {}
    info = mi.type_info(Recommendations)
    assert isinstance(info, mi.StructType)
    for f in info.fields:
        t = f.type
        if isinstance(t, mi.UnionType):  # optional numbers (the trim): the number's bounds
            t = next((u for u in t.types if isinstance(u, mi.FloatType)), t)
        if isinstance(t, mi.FloatType):
            out[f.name] = (t.ge, t.le)
    return out


BOUNDS = bounds()


def controls() -> str:
    """The controls as lines ``name (lo..hi): meaning``, for the system instruction."""
    lines = []
    for name, meaning in MEANINGS.items():
        lo, hi = BOUNDS.get(name, (None, None))
        span = f" ({lo:g}..{hi:g})" if lo is not None and hi is not None else ""
        lines.append(f"- {name}{span}: {meaning}")
    return "\n".join(lines)


SYSTEM = f"""You are a video colourist preparing a person's trip clips for sharing. For one clip you get
measurements of the original (exact figures, over the whole clip) and, when there is one, a 720p preview of
it (which you see at about one frame a second: judge shake and noise from the figures, not from it).
Recommend corrections with these controls:
{controls()}
Keep it natural: true skin tones, believable skies, night scenes still night. A control left at its neutral
value leaves that aspect alone; a clean, well-exposed clip needs little or nothing, and an unnecessary edit is
worse than none. Trim only where the clip starts or ends on black, blur or a pocket shot, never into the
action. When the person asks for a change, start from the previous recommendations and change what they ask;
list the words of their request these controls cannot do in not_understood."""


# --------------------------------------------------------------------------- the prompt
def figures(a: VideoAnalysis) -> list[str]:
    """The analysis as named numbers with their meaning and scale."""
    spread = a.luma_high - a.luma_low
    end = a.trim_out_s if a.trim_out_s is not None else a.duration_s
    trim = (
        f"from {a.trim_in_s or 0.0:.2f} s to {end:.2f} s"
        if a.trim_in_s is not None or a.trim_out_s is not None
        else "none (no black, blur or pocket shot at either end)"
    )
    lines = [
        f"- duration: {a.duration_s:.2f} s; {a.width}x{a.height} upright at {a.fps:.2f} fps; "
        f"audio: {'yes' if a.has_audio else 'no'}",
        f"- luma mean: {a.luma_mean:.1f} (0..255 levels; a well-exposed daylight scene is about 100..140, "
        "night scenes are lower)",
        f"- luma 10th / 90th percentile: {a.luma_low:.1f} / {a.luma_high:.1f} (spread {spread:.1f}; a "
        "full-contrast picture spans about 16..235, a flat or hazy one much less)",
        f"- saturation: {a.saturation:.1f} (mean chroma distance from grey, 0..~180; under ~15 looks washed "
        "out)",
        f"- colour cast: u {a.cast_u:+.1f}, v {a.cast_v:+.1f} (mean chroma offsets from neutral in levels; "
        "+u bluer, -u yellower, +v redder, -v greener; within about ±3 is neutral)",
        f"- noise: {a.noise:.2f} (luma sigma in 8-bit levels; above about 3 the grain is visible)",
        f"- shake: {a.shake:.2f} (mean high-frequency motion between frames, in pixels per frame at the "
        "analysis scale; above about 1 a hand-held clip looks shaky)",
        f"- suggested trim: {trim}",
    ]
    if a.notes:
        lines.append("- noticed: " + "; ".join(a.notes))
    return lines


def prompt(
    analysis: VideoAnalysis,
    *,
    has_preview: bool,
    context: VideoContext,
    feedback: str | None,
    previous: Advice | None,
) -> str:
    """The request's text: the trip, the clip, its figures, and on a feedback pass the turns so far."""
    lines = [
        f"Trip: {context.trip.strip() or '(not described)'}",
        f"Clip: {context.name or '(unnamed)'}",
        "The clip's 720p preview is attached."
        if has_preview
        else "No preview of this clip is available: recommend from these figures alone.",
        "Measured on the original:",
        *figures(analysis),
    ]
    if feedback is not None:
        if context.history:
            lines.append("Earlier requests on this clip, oldest first:")
            lines += [f'- the person: "{asked}" / you: "{answered}"' for asked, answered in context.history]
        if previous is not None:
            was = msgspec.json.encode(previous.recommendations).decode()
            lines.append(f"The previous recommendations (what the clip shows now): {was}")
        lines.append(f'The person now asks: "{feedback.strip()}". Change the recommendations as they ask.')
    else:
        lines.append("Recommend the corrections for this clip.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- reading the answer
def clamp(raw: dict[str, Any], duration_s: float) -> tuple[dict[str, Any], list[str]]:
    """``raw`` recommendations with every number inside its bound and the trim inside the clip (a trim
    at the start or at the end is no trim), and what was clamped. Non-numbers are left for the decode to
    refuse."""
    out = dict(raw)
    clamped: list[str] = []
    for name, (lo, hi) in BOUNDS.items():
        value = out.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if name.startswith("trim_"):
            hi = duration_s if hi is None else min(hi, duration_s)
        new = float(value)
        if lo is not None:
            new = max(lo, new)
        if hi is not None:
            new = min(hi, new)
        if new != value:
            clamped.append(f"{name} {value:g}->{new:g}")
        out[name] = new
    if out.get("trim_in_s") == 0.0:
        out["trim_in_s"] = None
    if out.get("trim_out_s") is not None and out["trim_out_s"] >= duration_s:
        out["trim_out_s"] = None
    return out, clamped


def check_trim(r: Recommendations, duration_s: float, what: str) -> None:
    """``Unreadable`` when the trim keeps less than ``MIN_KEPT_S`` (or out comes before in)."""
    start = r.trim_in_s or 0.0
    end = r.trim_out_s if r.trim_out_s is not None else duration_s
    if end - start < min(MIN_KEPT_S, duration_s):
        raise Unreadable(
            f"the answer to {what} trims the {duration_s:.2f} s clip to {start:.2f}..{end:.2f} s, which "
            f"keeps less than {min(MIN_KEPT_S, duration_s):g} s"
        )


def read_answer(response: types.GenerateContentResponse, duration_s: float, what: str) -> VideoAnswer:
    """The answer decoded, clamped (see the module's doc) and checked; ``Unreadable`` to ask again."""
    text = "".join(p.text or "" for p in answer_parts(response) if not p.thought)
    try:
        raw = msgspec.json.decode(text.encode())
    except msgspec.DecodeError as exc:
        raise Unreadable(f"the answer to {what} is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("recommendations"), dict):
        raise Unreadable(f"the answer to {what} has no recommendations object")
    recs, clamped = clamp(raw["recommendations"], duration_s)
    try:
        answer = msgspec.convert({**raw, "recommendations": recs}, VideoAnswer)
    except msgspec.ValidationError as exc:
        raise Unreadable(f"the answer to {what} is not the JSON asked for: {exc}") from exc
    check_trim(answer.recommendations, duration_s, what)
    if clamped:
        log.info("gemini video: %s: clamped to the bounds: %s", what, ", ".join(clamped))
    return answer


# --------------------------------------------------------------------------- the provider
class GeminiVideo:
    """``VideoProvider`` on Gemini; see the module's doc."""

    name = "gemini"

    def __init__(self, caller: GeminiCaller) -> None:
        self.caller = caller
        self.ai = caller.ai

    def __repr__(self) -> str:
        return f"GeminiVideo({self.caller!r})"

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        """The model's recommendations for the clip (see the module's doc). Raises ``ProviderError``."""
        clip = context.name or (preview.name if preview is not None else "a clip")
        what = f"the video {'feedback pass' if feedback is not None else 'recommendations'} for {clip}"
        meter = Meter(self.ai.session_token_budget)
        estimate = PROMPT_TOKENS + ANSWER_TOKENS
        parts: list[types.Part] = []
        uploaded: types.File | None = None
        try:
            if preview is not None:
                data = await anyio.Path(preview).read_bytes()
                uploaded = await self.caller.upload_file(data, mime_type=PREVIEW_MIME, name=clip)
                parts.append(types.Part.from_uri(file_uri=uploaded.uri or "", mime_type=PREVIEW_MIME))
                estimate += int(VIDEO_TOKENS_PER_S * analysis.duration_s)
            text = prompt(
                analysis,
                has_preview=preview is not None,
                context=context,
                feedback=feedback,
                previous=previous,
            )
            parts.append(types.Part.from_text(text=text))
            answer = await self.caller.generate(
                model=self.ai.video_model,
                system=SYSTEM,
                parts=parts,
                answer=VideoAnswer,
                meter=meter,
                estimate=estimate,
                what=what,
                read=lambda response: read_answer(response, analysis.duration_s, what),
            )
        finally:
            if uploaded is not None:
                await self.caller.delete_file(uploaded.name or "")
        recs = answer.recommendations
        if len(recs.reason) > 300:
            recs = msgspec.structs.replace(recs, reason=recs.reason[:300])
        heard = tuple(w.strip() for w in answer.not_understood if w.strip()) if feedback is not None else ()
        return Advice(recommendations=recs, not_understood=heard)


def video_provider(settings: Settings) -> VideoProvider:
    """Gemini when a key (or its SSM parameter) is configured; the offline provider otherwise."""
    if not gemini_configured(settings):
        return OfflineVideoProvider()
    log.info("video provider: gemini (%s)", settings.ai.video_model)
    return GeminiVideo(gemini_caller(settings))
