"""The enhancement pipeline's values: regions, the analysis of a result, the edits made, a phase's outcome.

These are the pipeline's own (library) types, not published contracts: the handler turns them into the
``photo.enhance.*`` events. Every number is bounded where it is made, so a provider's answer that is out of
range is clamped on the way in (``Region.clamped``, ``Analysis.score``), never trusted.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Impact = Literal["high", "medium", "low"]
PhaseName = Literal["creative", "analysis", "surgical", "feedback"]

#: the improvement types phase 2 names (the reference's vocabulary plus the offline provider's own)
ImprovementType = Literal[
    "lighting-fix",
    "shadow-lift",
    "highlight-recovery",
    "color-grading",
    "detail-enhancement",
    "noise-reduction",
    "blemish-removal",
    "background-cleanup",
    "object-removal",
    "composition-fix",
]


class Region(msgspec.Struct, frozen=True, kw_only=True):
    """A rectangle in normalised coordinates (0..1 of the image's width and height, origin top-left).

    Normalised so a region found on one image (the analysed phase-1 result, often smaller) maps onto any
    other size of the same picture: the reference sized its masks on the original while editing the phase-1
    output (reference-system §11); here a mask is always made on the image being edited (``to_pixels``).
    """

    x: float
    y: float
    w: float
    h: float

    def clamped(self) -> Region:
        """The same region cut to the unit square (w, h at least 0)."""
        x = min(max(self.x, 0.0), 1.0)
        y = min(max(self.y, 0.0), 1.0)
        return Region(x=x, y=y, w=min(max(self.w, 0.0), 1.0 - x), h=min(max(self.h, 0.0), 1.0 - y))

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(left, top, width, height) in pixels of a ``width`` x ``height`` image; at least 1 x 1."""
        r = self.clamped()
        left = min(int(r.x * width), width - 1)
        top = min(int(r.y * height), height - 1)
        return (
            left,
            top,
            max(1, min(round(r.w * width), width - left)),
            max(1, min(round(r.h * height), height - top)),
        )


WHOLE = Region(x=0.0, y=0.0, w=1.0, h=1.0)


class Improvement(msgspec.Struct, frozen=True, kw_only=True):
    """One improvement phase 2 still sees: what, where, how much it matters, and what to do."""

    type: ImprovementType
    region: Region
    impact: Impact
    instruction: str


class Analysis(msgspec.Struct, frozen=True, kw_only=True):
    """Phase 2's verdict on an image: a score 0..10 and the improvements that remain."""

    score: float
    improvements: tuple[Improvement, ...] = ()
    summary: str = ""

    def actionable(self) -> tuple[Improvement, ...]:
        """The improvements worth a surgical edit: high impact first, then medium (low ones are left)."""
        order = {"high": 0, "medium": 1}
        kept = [i for i in self.improvements if i.impact in order]
        return tuple(sorted(kept, key=lambda i: order[i.impact]))


class Edit(msgspec.Struct, frozen=True, kw_only=True):
    """One edit made: its name, its amount (the edit's own unit, 0 = none), where (None = whole image)."""

    name: str
    amount: float
    region: Region | None = None
    detail: str = ""


class PhaseResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one phase, as the callback receives it (the handler publishes it)."""

    phase: PhaseName
    edits: tuple[Edit, ...] = ()
    analysis: Analysis | None = None
    #: what the provider said (phase 1's description, a feedback pass's answer; "" if nothing)
    note: str = ""
    #: for phase 3: which of the at most 3 surgical edits this is (1-based); 0 otherwise
    step: int = 0
