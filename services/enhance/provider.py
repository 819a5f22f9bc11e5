"""The enhancement provider: the three phases' operations, offline (libvips) or a model (Gemini) behind them.

The image type is ``pyvips.Image``: 8-bit, 3-band sRGB, upright, any size. Offline that is what libvips works
on with no copy; a model provider encodes it to JPEG bytes itself (``image.jpegsave_buffer``) and decodes its
answer back with ``pyvips.Image.new_from_buffer``. Regions are normalised (``model.Region``), so a provider
that answers for a smaller image than the one edited still points at the right place.
"""

from __future__ import annotations

from typing import Protocol

import msgspec
import pyvips

from services.enhance.model import Analysis, Edit, Improvement
from shared.runtime.ai import ProviderError

__all__ = ["EditContext", "EditOutcome", "EnhanceProvider", "ProviderError"]


class EditContext(msgspec.Struct, frozen=True, kw_only=True):
    """What phase 1 may know of the photo besides its pixels (a model provider puts it in its prompt)."""

    name: str = ""
    #: the trip as the person described it ("Weekend in Kyoto"); may be empty
    trip: str = ""
    #: the earlier feedback turns of this item, oldest first: (the user's words, what the provider answered)
    history: tuple[tuple[str, str], ...] = ()


class EditOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """An edit's answer besides the image: the edits made, and what the provider says about them.

    ``not_understood``: the words of a feedback sentence the provider could not act on (said plainly back
    to the user, never silently dropped).
    """

    edits: tuple[Edit, ...] = ()
    note: str = ""
    not_understood: tuple[str, ...] = ()


class EnhanceProvider(Protocol):
    """Phase 1 (creative global edit), phase 2 (analysis), phase 3 (one surgical edit of a region)."""

    @property
    def name(self) -> str:
        """The provider's name as recorded with the edits (``offline``, ``gemini``)."""
        ...

    def creative_edit(
        self, image: pyvips.Image, context: EditContext, feedback: str | None
    ) -> tuple[pyvips.Image, EditOutcome]:
        """Phase 1: the whole image improved; with ``feedback``, a pass that follows the user's words."""
        ...

    def analyse(self, image: pyvips.Image) -> Analysis:
        """Phase 2: the image's score (0..10) and the improvements that remain, with their regions."""
        ...

    def surgical_edit(
        self, image: pyvips.Image, improvement: Improvement
    ) -> tuple[pyvips.Image, EditOutcome]:
        """Phase 3: one regional fix; its mask is made on ``image`` itself (the image being edited)."""
        ...
