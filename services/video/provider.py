"""The video provider: from a clip's analysis (and, for a model, its 720p preview) to recommendations.

Offline (the default) derives them from the analysis; Gemini sends the preview (Files API, waiting for
``ACTIVE``) with the analysis figures and the trip context and decodes its structured answer into
``Recommendations``. With ``feedback`` the pass follows the person's sentence (the offline provider knows a
small vocabulary and names the words it did not understand in ``Advice.not_understood``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from services.video.model import Advice, VideoAnalysis, VideoContext
from shared.runtime.ai import ProviderError

__all__ = ["Advice", "ProviderError", "VideoProvider"]


class VideoProvider(Protocol):
    """Recommendations for one clip."""

    @property
    def name(self) -> str:
        """The provider's name as recorded with the edits (``offline``, ``gemini``)."""
        ...

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        """What to change. ``preview``: the clip's 720p preview on local disk (a model provider uploads
        it; None when there is none). ``feedback`` with ``previous``: a pass after the person's sentence,
        from the recommendations of the pass before. Raises ``ProviderError`` when it gives up."""
        ...
