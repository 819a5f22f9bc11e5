"""What the video pipeline measures and what it is told to do: the analysis of one clip (one decode),
the recommendations (whoever makes them: the offline provider from the analysis, or Gemini from the
preview and the analysis), and the context a provider may know besides the pixels.

The recommendations are one structured shape with bounds (``msgspec.Meta``): a model's answer is decoded
into it (the bounds go into its response schema), and the render maps it to an ffmpeg filter graph. A value
at its neutral default means "leave it".
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: the levels below are 8-bit luma/chroma levels (0..255, signalstats' scale)
Level = Annotated[float, msgspec.Meta(ge=0.0, le=255.0)]


class VideoAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    """One clip, measured in as few decodes as possible. Figures are means over the
    sampled frames unless named otherwise."""

    duration_s: float
    #: displayed (upright) size and frame rate of the source
    width: int
    height: int
    fps: float
    has_audio: bool
    #: the rotation the container asks players to apply (degrees: 0, 90, 180, 270)
    rotation: int = 0
    #: luma: mean, and the 10th/90th percentiles' means (signalstats YAVG, YLOW, YHIGH)
    luma_mean: Level = 128.0
    luma_low: Level = 16.0
    luma_high: Level = 235.0
    #: mean saturation (signalstats SATAVG, 0..~180)
    saturation: float = 0.0
    #: colour cast: mean chroma offsets from neutral (UAVG - 128, VAVG - 128; + v is red, + u is blue)
    cast_u: float = 0.0
    cast_v: float = 0.0
    #: noise estimate (luma sigma, 8-bit levels)
    noise: float = 0.0
    #: shake: mean high-frequency inter-frame motion (pixels at the analysis scale per frame)
    shake: float = 0.0
    #: a suggested trim where the clip starts or ends on black, blur or a pocket shot (seconds; None: keep)
    trim_in_s: float | None = None
    trim_out_s: float | None = None
    #: blurdetect's mean over the frames (0 sharp .. ~100; above ~12 a frame looks soft)
    blur: float = 0.0
    #: the long side of the frames the analysis measured (pixels): the scale of ``shake``
    analysis_px: int = 320
    #: what the analysis noticed, for people and prompts ("starts on 1.2 s of black")
    notes: tuple[str, ...] = ()


class Recommendations(msgspec.Struct, frozen=True, kw_only=True):
    """What to change, in one shape. Neutral defaults leave the clip as it is."""

    #: eq: brightness -1..1 (0 none), contrast 0.5..2 (1 none), gamma 0.5..2 (1 none), saturation 0..2 (1)
    brightness: Annotated[float, msgspec.Meta(ge=-0.5, le=0.5)] = 0.0
    contrast: Annotated[float, msgspec.Meta(ge=0.5, le=2.0)] = 1.0
    gamma: Annotated[float, msgspec.Meta(ge=0.5, le=2.0)] = 1.0
    saturation: Annotated[float, msgspec.Meta(ge=0.0, le=2.0)] = 1.0
    #: white balance: warmth -1 (cooler) .. 1 (warmer), tint -1 (greener) .. 1 (more magenta)
    warmth: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] = 0.0
    tint: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] = 0.0
    #: 0 (none) .. 1 (strongest): stabilisation, denoising, sharpening
    stabilise: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    denoise: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    sharpen: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    #: keep only [trim_in_s, trim_out_s) of the clip (None: from the start / to the end)
    trim_in_s: Annotated[float, msgspec.Meta(ge=0.0)] | None = None
    trim_out_s: Annotated[float, msgspec.Meta(ge=0.0)] | None = None
    #: one sentence: why these
    reason: str = ""


class VideoContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider may know besides the clip: its name, the trip as the person described it, and the
    item's earlier feedback turns, oldest first (the person's words, what the provider answered)."""

    name: str = ""
    trip: str = ""
    history: tuple[tuple[str, str], ...] = ()


class Advice(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's answer: the recommendations, and the words of a feedback sentence it could not act
    on (said plainly back to the person, never silently dropped)."""

    recommendations: Recommendations
    not_understood: tuple[str, ...] = ()
