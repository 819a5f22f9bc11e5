"""Phase 3's masks, and Imagen's mask edits on Vertex AI.

A mask is always made for the image it goes with, at that image's size: the copy sent to Imagen gets a mask
of the copy's size, and the answer, resized back to the working image, is blended in under a feathered mask
of the working image's size. The reference made its masks for the original's size while editing the (often
~1024 px) phase-1 output, and never ran phase 3 at all in production (a static token nobody set:
reference-system §7, §11); here the region is normalised (``model.Region``) and each mask is drawn from it
for its own image.

``ImagenEditor`` runs ``models.edit_image`` (Vertex AI only: Imagen's mask edits are not in the Gemini
Developer API) with the image as a ``RawReferenceImage`` and the mask as a ``MaskReferenceImage`` in
``MASK_MODE_USER_PROVIDED`` (the reference sent ``MASK_MODE_FOREGROUND``, which ignores a given mask).
Credentials are Google's application default ones (a service account on AWS via workload identity
federation, ``gcloud auth application-default login`` on a laptop); the client's retries and the re-asking
of an answer without an image are those of every Gemini request (shared/runtime/gemini.py).
"""

from __future__ import annotations

import pyvips
import tenacity
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from opentelemetry import trace

from services.enhance.model import ImprovementType, Region
from shared.runtime.ai import Unreadable
from shared.runtime.config import AiSettings
from shared.runtime.gemini import GeminiCaller, http_options

#: the improvements Imagen removes (fills from the surroundings) rather than redraws from the instruction
REMOVALS: frozenset[ImprovementType] = frozenset({"object-removal", "blemish-removal", "background-cleanup"})
#: how far a blended edit fades in past the region's edge: this fraction of the image's short side
FEATHER = 0.03


def box_mask(width: int, height: int, region: Region) -> pyvips.Image:
    """A hard 0/255 one-band mask of ``width`` x ``height``: the region white (what Imagen may change)."""
    left, top, w, h = region.to_pixels(width, height)
    return pyvips.Image.black(width, height).draw_rect(255, left, top, w, h, fill=True).cast("uchar")


def feathered_mask(width: int, height: int, region: Region) -> pyvips.Image:
    """A 0..1 float mask of ``width`` x ``height``: 1 inside the region, fading out past its edge."""
    sigma = max(0.5, FEATHER * min(width, height) / 2)
    return (box_mask(width, height, region).cast("float") / 255).gaussblur(sigma, precision="approximate")


def blend(image: pyvips.Image, edited: pyvips.Image, region: Region) -> pyvips.Image:
    """``edited`` (the size of ``image``) inside ``region``, ``image`` outside: the pixels outside the region
    and its feather stay exactly the input's, whatever the model did there."""
    mask = feathered_mask(image.width, image.height, region)
    out = image.cast("float") * (1 - mask) + edited.cast("float") * mask
    return (out + 0.5).cast("uchar").copy(interpretation="srgb")


def vertex_client(ai: AiSettings) -> genai.Client:
    """A Vertex AI client for ``ai.vertex_project`` / ``ai.vertex_location`` with the default credentials."""
    return genai.Client(
        vertexai=True,
        project=ai.vertex_project,
        location=ai.vertex_location,
        http_options=http_options(ai, ai.vertex_base_url),
    )


class ImagenEditor:
    """Imagen mask edits on Vertex AI; see the module's doc. ``client`` defaults to ``vertex_client``."""

    def __init__(self, caller: GeminiCaller, *, client: genai.Client | None = None) -> None:
        self.caller = caller
        self.ai = caller.ai
        self._client = client

    def __repr__(self) -> str:
        return f"ImagenEditor(project={self.ai.vertex_project!r}, location={self.ai.vertex_location!r})"

    def client(self) -> genai.Client:
        if self._client is None:
            self._client = vertex_client(self.ai)
        return self._client

    def edit(
        self, jpeg: bytes, mask_png: bytes, *, kind: ImprovementType, instruction: str, what: str
    ) -> bytes:
        """The edited image's bytes: ``jpeg`` changed where ``mask_png`` (the same size) is white.

        ``ProviderError`` when Vertex AI refuses (after the client's retries) or keeps answering no image."""
        client = self.client()
        removal = kind in REMOVALS
        references: list[types.ReferenceImage] = [
            types.RawReferenceImage(
                reference_id=1, reference_image=types.Image(image_bytes=jpeg, mime_type="image/jpeg")
            ),
            types.MaskReferenceImage(
                reference_id=2,
                reference_image=types.Image(image_bytes=mask_png, mime_type="image/png"),
                config=types.MaskReferenceConfig(
                    mask_mode=types.MaskReferenceMode.MASK_MODE_USER_PROVIDED, mask_dilation=0.01
                ),
            ),
        ]
        config = types.EditImageConfig(
            edit_mode=(
                types.EditMode.EDIT_MODE_INPAINT_REMOVAL
                if removal
                else types.EditMode.EDIT_MODE_INPAINT_INSERTION
            ),
            number_of_images=1,
            output_mime_type="image/png",
        )
        prompt = "" if removal else instruction

        def once() -> bytes:
            with trace.use_span(GeminiCaller.start_span(self.ai.vertex_edit_model, what), end_on_exit=True):
                try:
                    answer = client.models.edit_image(
                        model=self.ai.vertex_edit_model,
                        prompt=prompt,
                        reference_images=references,
                        config=config,
                    )
                except genai_errors.APIError as exc:
                    raise self.caller.refused(exc, what) from exc
            for generated in answer.generated_images or []:
                if generated.image is not None and generated.image.image_bytes:
                    return bytes(generated.image.image_bytes)
            reasons = {g.rai_filtered_reason for g in answer.generated_images or [] if g.rai_filtered_reason}
            why = f" (filtered: {'; '.join(sorted(reasons))})" if reasons else ""
            raise Unreadable(f"the answer to {what} has no image{why}")

        try:
            for attempt in tenacity.Retrying(**self.caller.reasking()):
                with attempt:
                    return once()
        except Unreadable as exc:
            raise self.caller.gave_up(exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")
