"""The Gemini enhance provider, the real google-genai client against the local wire-format server
(tests/support/gemini_server.py): what each phase sends (the photo shrunk, inline, with the prompt), image
answers resized back to the photo's size, an answer with no image (asked again, then a clear error), an
unparseable analysis (asked again, then an error), phase 3 by the image model with the region in words and by
Imagen on Vertex AI with a mask the size of the image it edits, the key never logged, the provider from a
worker thread, and ``enhance_photo`` whole."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import pyvips
from google import genai
from google.oauth2.credentials import Credentials

from services.enhance.gemini import GeminiEnhance, enhance_provider
from services.enhance.imagen import ImagenEditor, box_mask, feathered_mask
from services.enhance.model import Improvement, Region
from services.enhance.offline import OfflineProvider
from services.enhance.pipeline import enhance_photo, load_upright_srgb
from services.enhance.provider import EditContext
from shared.runtime.ai import ProviderError
from shared.runtime.config import AiSettings, Settings
from shared.runtime.gemini import GeminiCaller, http_options
from tests.support.gemini_server import GeminiServer, Reply, inline_parts, prompt_text
from tests.support.paths import TESTDATA

KEY = "AIza-enhance-test-key-41d2"  # looked for in every log line
PHOTO = TESTDATA / "photos" / "gps" / "DSCN0025.jpg"  # 640 x 480
SHADOWS = Improvement(
    type="shadow-lift",
    region=Region(x=0.0, y=0.0, w=0.3, h=0.4),
    impact="high",
    instruction="Lift the crushed shadows under the trees.",
)


def settings(server: GeminiServer, **more: Any) -> AiSettings:
    return AiSettings(
        **{
            "gemini_api_key": KEY,
            "gemini_base_url": server.url,
            "retry_attempts": 3,
            "retry_initial_delay_s": 0.0,
            **more,
        }
    )


def caller(ai: AiSettings) -> GeminiCaller:
    async def key() -> str:
        return ai.gemini_api_key

    return GeminiCaller(ai, key=key)


def photo(width: int = 3000, height: int = 2250) -> pyvips.Image:
    """A real photo, upright sRGB, at ``width`` x ``height`` (larger than what is sent: 2048 px)."""
    image, _ = load_upright_srgb(PHOTO)
    return image.thumbnail_image(width, height=height, size="force").copy_memory()


def png(image: pyvips.Image) -> bytes:
    return bytes(image.pngsave_buffer())


def decoded(data: str | bytes) -> pyvips.Image:
    """An image sent as base64 (the client sends the URL-safe alphabet) or as bytes."""
    raw = (
        base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_")) if isinstance(data, str) else data
    )
    return pyvips.Image.new_from_buffer(raw, "")


def sent_image(body: dict[str, Any]) -> pyvips.Image:
    [part] = inline_parts(body)
    assert part.get("mimeType", part.get("mime_type")) == "image/jpeg"
    return decoded(part["data"])


def brighter(body: dict[str, Any], size: tuple[int, int] = (1024, 768)) -> Reply:
    """What an image model does: the sent image, edited (brighter), at ITS own output size."""
    out = (sent_image(body) * 1.2 + 10).cast("uchar").thumbnail_image(size[0], height=size[1], size="force")
    return Reply.image(png(out), text="Brightened the shadows and warmed the light.")


def is_image_request(body: dict[str, Any]) -> bool:
    return "IMAGE" in body.get("generationConfig", {}).get("responseModalities", [])


ANALYSIS = {
    "score": 6.5,
    "improvements": [
        {
            "type": "shadow-lift",
            "region": {"x": 0.0, "y": 0.0, "w": 0.3, "h": 0.4},
            "impact": "high",
            "instruction": "Lift the shadows under the trees.",
        },
        {
            "type": "color-grading",
            "region": {"x": 0.8, "y": 0.9, "w": 0.5, "h": 0.5},  # past the edge: clamped
            "impact": "low",
            "instruction": "Warm the foreground a little.",
        },
    ],
    "summary": "Good light, dark corner.",
}


def model_like(body: dict[str, Any]) -> Reply:
    """Image requests get an edited image; analysis requests get ``ANALYSIS``."""
    return brighter(body) if is_image_request(body) else Reply.json(ANALYSIS)


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer(respond=model_like) as s:
        yield s


@pytest.fixture
def provider(server: GeminiServer) -> GeminiEnhance:
    return GeminiEnhance(caller(settings(server)))


# --------------------------------------------------------------------------- phase 1
def test_phase_1_sends_the_photo_shrunk_inline_with_the_prompt_and_resizes_the_answer_back(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    image = photo()
    context = EditContext(name="DSCN0025.jpg", trip="Weekend in Kyoto")
    out, outcome = provider.creative_edit(image, context, None)

    assert (out.width, out.height) == (3000, 2250)  # the answer was 1024 x 768
    [request] = server.generate_requests()
    assert request.path.endswith("/models/gemini-2.5-flash-image:generateContent")
    assert request.headers["x-goog-api-key"] == KEY
    body = request.json()
    sent = sent_image(body)
    assert (sent.width, sent.height) == (2048, 1536)  # shrunk to the long side, never the original
    assert body["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    assert "photo editor" in prompt_text({"contents": [body["systemInstruction"]]})
    prompt = prompt_text(body)
    assert "Weekend in Kyoto" in prompt and "DSCN0025.jpg" in prompt and "Enhance this photo" in prompt
    [edit] = outcome.edits
    assert edit.name == "creative-edit" and 0.02 < edit.amount < 0.2  # the measured change, 0..1
    assert outcome.note == "Brightened the shadows and warmed the light."
    # the answer's pixels, not the input's: brighter everywhere
    assert out.avg() > image.avg() + 5


def test_a_feedback_pass_carries_the_words_and_the_earlier_turns(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    context = EditContext(name="a.jpg", history=(("warmer please", "Warmed the whites."),))
    out, outcome = provider.creative_edit(photo(640, 480), context, "a bit brighter")
    prompt = prompt_text(server.generate_requests()[0].json())
    assert '"a bit brighter"' in prompt
    assert '"warmer please"' in prompt and '"Warmed the whites."' in prompt
    assert outcome.edits[0].name == "feedback"
    assert (out.width, out.height) == (640, 480)  # a small photo is sent as it is and comes back its size


def test_an_answer_with_no_image_is_asked_again(server: GeminiServer, provider: GeminiEnhance) -> None:
    server.queue(Reply.text("I cannot edit this photo."))
    out, _ = provider.creative_edit(photo(640, 480), EditContext(), None)
    assert len(server.generate_requests()) == 2
    assert (out.width, out.height) == (640, 480)


def test_an_answer_with_no_image_every_time_is_a_clear_provider_error(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    server.respond = lambda body: Reply.text("Here is a description instead of an image.")
    with pytest.raises(ProviderError, match=r"has no image .*3 attempt\(s\)") as raised:
        provider.creative_edit(photo(640, 480), EditContext(name="x.jpg"), None)
    assert "phase 1 of x.jpg" in str(raised.value)
    assert "a description instead" in str(raised.value)  # what it said instead, for whoever reads the error
    assert len(server.generate_requests()) == 3


def test_an_image_that_does_not_decode_is_asked_again_then_an_error(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    server.respond = lambda body: Reply.image(b"not a png at all")
    with pytest.raises(ProviderError, match="does not decode"):
        provider.creative_edit(photo(640, 480), EditContext(), None)
    assert len(server.generate_requests()) == 3


def test_a_429_is_retried_by_the_client_itself(server: GeminiServer, provider: GeminiEnhance) -> None:
    server.queue(Reply.error(429))
    provider.creative_edit(photo(640, 480), EditContext(), None)
    assert len(server.generate_requests()) == 2


def test_5xx_past_the_attempts_is_a_provider_error(server: GeminiServer, provider: GeminiEnhance) -> None:
    server.respond = lambda body: Reply.error(503)
    with pytest.raises(ProviderError, match="503"):
        provider.creative_edit(photo(640, 480), EditContext(), None)
    assert len(server.generate_requests()) == 3


# --------------------------------------------------------------------------- phase 2
def test_the_analysis_is_structured_output_decoded_and_clamped(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    analysis = provider.analyse(photo())
    [request] = server.generate_requests()
    assert request.path.endswith("/models/gemini-2.5-flash:generateContent")
    body = request.json()
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert schema["properties"]["score"]["maximum"] == 10.0
    improvement = schema["properties"]["improvements"]["items"]
    assert "shadow-lift" in improvement["properties"]["type"]["enum"]
    assert sorted(improvement["properties"]["impact"]["enum"]) == ["high", "low", "medium"]
    assert improvement["properties"]["region"]["properties"]["x"]["maximum"] == 1.0
    sent = sent_image(body)
    assert max(sent.width, sent.height) == 1024
    assert analysis.score == 6.5 and analysis.summary == "Good light, dark corner."
    first, second = analysis.improvements
    assert first == Improvement(
        type="shadow-lift",
        region=SHADOWS.region,
        impact="high",
        instruction="Lift the shadows under the trees.",
    )
    r = second.region  # cut to the image, never trusted
    assert (r.x, r.y, r.w, r.h) == pytest.approx((0.8, 0.9, 0.2, 0.1))
    assert analysis.actionable() == (first,)


def test_an_unparseable_analysis_is_asked_again(server: GeminiServer, provider: GeminiEnhance) -> None:
    server.queue(Reply.text('{"score": 7, "improvements": [{"type": "shad'))  # truncated
    assert provider.analyse(photo(640, 480)).score == 6.5
    assert len(server.generate_requests()) == 2


def test_an_analysis_unparseable_every_time_is_a_provider_error(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    server.respond = lambda body: Reply.json({"score": 42, "improvements": []})  # out of range
    with pytest.raises(ProviderError, match=r"phase 2 \(analysis\) is not the JSON asked for"):
        provider.analyse(photo(640, 480))
    assert len(server.generate_requests()) == 3


# --------------------------------------------------------------------------- phase 3
def white(body: dict[str, Any]) -> Reply:
    """An image model that paints the whole image white (the blend must keep it inside the region)."""
    sent = sent_image(body)
    return Reply.image(
        png((pyvips.Image.black(1024, 768, bands=3) + 255).cast("uchar")), text=f"{sent.width}"
    )


def changed(a: pyvips.Image, b: pyvips.Image) -> np.ndarray:
    """Where two images of one size differ by more than a level (a boolean map)."""
    return np.abs(a.numpy().astype(np.int16) - b.numpy().astype(np.int16)).max(axis=2) > 1


def test_phase_3_without_vertex_asks_the_image_model_with_the_region_in_words(
    server: GeminiServer, provider: GeminiEnhance
) -> None:
    server.respond = white
    image = photo()
    out, outcome = provider.surgical_edit(image, SHADOWS)

    assert (out.width, out.height) == (image.width, image.height)
    prompt = prompt_text(server.generate_requests()[0].json())
    assert "from 0% to 30% of the width" in prompt and "from 0% to 40% of the height" in prompt
    assert "top-left" in prompt and SHADOWS.instruction in prompt
    diff = changed(image, out)
    left, top, w, h = SHADOWS.region.to_pixels(image.width, image.height)
    inside = diff[top + h // 4 : top + 3 * h // 4, left + w // 4 : left + 3 * w // 4]
    assert inside.mean() > 0.99  # inside: the model's white (a few pixels were white already)
    margin = int(0.1 * min(image.width, image.height))  # past the feather: exactly the input
    assert not diff[top + h + margin :, :].any() and not diff[:, left + w + margin :].any()
    [edit] = outcome.edits
    assert edit.name == "shadow-lift" and edit.region == SHADOWS.region and edit.detail.startswith("gemini:")


def test_masks_are_made_at_the_size_of_the_image_they_go_with() -> None:
    region = Region(x=0.25, y=0.5, w=0.5, h=0.25)
    for width, height in ((2048, 1536), (1536, 2048), (1000, 333), (64, 48)):
        mask = box_mask(width, height, region)
        assert (mask.width, mask.height, mask.bands) == (width, height, 1)
        m = mask.numpy() > 0
        rows, cols = np.nonzero(m)
        assert (cols.min(), rows.min()) == (width // 4, height // 2)
        assert (cols.max() + 1, rows.max() + 1) == (
            width // 4 + round(width / 2),
            height // 2 + round(height / 4),
        )
        soft = feathered_mask(width, height, region)
        assert (soft.width, soft.height) == (width, height)
        assert soft.max() <= 1.0 and soft.min() >= 0.0


def imagen_editor(server: GeminiServer, ai: AiSettings) -> ImagenEditor:
    """The editor with a Vertex AI client on the local server (static credentials: no Google sign-in)."""
    client = genai.Client(
        vertexai=True,
        project=ai.vertex_project,
        location=ai.vertex_location,
        credentials=Credentials(token="vertex-test-token"),  # type: ignore[no-untyped-call]
        http_options=http_options(ai, server.url),
    )
    return ImagenEditor(caller(ai), client=client)


def test_phase_3_with_vertex_sends_imagen_the_image_and_a_mask_of_its_size(server: GeminiServer) -> None:
    ai = settings(server, vertex_project="trip-photos", vertex_location="europe-west4")
    provider = GeminiEnhance(caller(ai), imagen=imagen_editor(server, ai))
    seen: list[tuple[pyvips.Image, pyvips.Image, dict[str, Any]]] = []

    def imagen(body: dict[str, Any]) -> Reply:
        [instance] = body["instances"]
        raw, mask = instance["referenceImages"]
        seen.append(
            (
                decoded(raw["referenceImage"]["bytesBase64Encoded"]),
                decoded(mask["referenceImage"]["bytesBase64Encoded"]),
                body,
            )
        )
        return Reply.predictions(png((pyvips.Image.black(1024, 768, bands=3) + 255).cast("uchar")))

    server.predict = imagen
    image = photo()
    out, outcome = provider.surgical_edit(image, SHADOWS)

    [request] = server.predict_requests()
    assert request.path.startswith(
        "/v1beta1/projects/trip-photos/locations/europe-west4/publishers/google/models/imagen-3.0-capability-001"
    )
    assert request.headers["authorization"] == "Bearer vertex-test-token"
    [(raw, mask, body)] = seen
    assert (raw.width, raw.height) == (2048, 1536)  # the copy sent, not the working image
    assert (mask.width, mask.height) == (raw.width, raw.height)  # the mask fits the image Imagen edits
    rows, cols = np.nonzero(mask.numpy() > 127)
    assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (0, 0, 614, 614)  # 30 % x 40 %
    config = body["instances"][0]["referenceImages"][1]["maskImageConfig"]
    assert config["maskMode"] == "MASK_MODE_USER_PROVIDED"
    assert body["parameters"]["editMode"] == "EDIT_MODE_INPAINT_INSERTION"
    assert body["instances"][0]["prompt"] == SHADOWS.instruction
    assert server.generate_requests() == []  # Imagen did it, not the image model
    assert (out.width, out.height) == (image.width, image.height)
    diff = changed(image, out)
    assert diff[100:500, 100:500].mean() > 0.99  # inside: Imagen's white (a few pixels were white already)
    assert not diff[1000:, :].any() and not diff[:, 1000:].any()  # outside, past the feather: the input
    assert outcome.edits[0].detail.startswith("imagen:")


def test_imagen_removals_send_no_prompt_and_no_image_is_asked_again_then_an_error(
    server: GeminiServer,
) -> None:
    ai = settings(server, vertex_project="p")
    provider = GeminiEnhance(caller(ai), imagen=imagen_editor(server, ai))
    server.predict = lambda body: Reply(200, b'{"predictions": [{"raiFilteredReason": "person in mask"}]}')
    removal = Improvement(
        type="object-removal", region=SHADOWS.region, impact="high", instruction="Remove the bin."
    )
    with pytest.raises(ProviderError, match=r"no image \(filtered: person in mask\).*3 attempt"):
        provider.surgical_edit(photo(640, 480), removal)
    bodies = [r.json() for r in server.predict_requests()]
    assert len(bodies) == 3
    assert bodies[0]["parameters"]["editMode"] == "EDIT_MODE_INPAINT_REMOVAL"
    assert not bodies[0]["instances"][0].get("prompt")


# --------------------------------------------------------------------------- the key, threads, wiring
def test_the_key_never_appears_in_logs_errors_or_reprs(
    server: GeminiServer, provider: GeminiEnhance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the client's and httpx's included
    server.queue(Reply.error(429), Reply.text("no image"))
    provider.creative_edit(photo(640, 480), EditContext(), None)
    server.respond = lambda body: Reply.error(500, "boom")
    with pytest.raises(ProviderError) as raised:
        provider.analyse(photo(640, 480))
    assert caplog.records  # something was logged: the check below is not vacuous
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert KEY not in logged
    assert KEY not in str(raised.value) and KEY not in repr(raised.value.__cause__)
    assert KEY not in repr(provider)


@pytest.mark.anyio
async def test_the_provider_runs_in_a_worker_thread_and_reads_an_async_key_once(server: GeminiServer) -> None:
    reads: list[int] = []

    async def key() -> str:  # like the SSM read: async, on first use
        reads.append(1)
        return KEY

    provider = GeminiEnhance(GeminiCaller(settings(server, gemini_api_key=""), key=key))
    image = photo(640, 480)
    out, _ = await anyio.to_thread.run_sync(provider.creative_edit, image, EditContext(), None)
    analysis = await anyio.to_thread.run_sync(provider.analyse, out)
    assert analysis.score == 6.5 and reads == [1]


def test_enhance_provider_is_gemini_with_a_key_imagen_with_a_project_offline_otherwise() -> None:
    assert isinstance(enhance_provider(Settings()), OfflineProvider)
    keyed = enhance_provider(Settings(ai=AiSettings(gemini_api_key=KEY)))
    assert isinstance(keyed, GeminiEnhance) and keyed.imagen is None
    vertex = enhance_provider(Settings(ai=AiSettings(gemini_api_key_parameter="/k", vertex_project="p")))
    assert isinstance(vertex, GeminiEnhance) and vertex.imagen is not None
    assert KEY not in repr(keyed)


# --------------------------------------------------------------------------- the whole pipeline
def test_enhance_photo_with_gemini_end_to_end(server: GeminiServer, tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    photo(2600, 1950).jpegsave(str(path), Q=92)
    provider = GeminiEnhance(caller(settings(server)))
    result = enhance_photo(path, provider, context=EditContext(name="big.jpg", trip="Kyoto"))

    assert [p.phase for p in result.phases] == ["creative", "analysis", "surgical"]
    assert (result.width, result.height) == (2600, 1950)
    out = pyvips.Image.new_from_buffer(result.jpeg, "")
    assert (out.width, out.height) == (2600, 1950)
    assert [e.name for e in result.edits] == ["creative-edit", "shadow-lift"]
    assert result.analysis is not None and result.analysis.score == 6.5
    kinds = ["image" if is_image_request(r.json()) else "analysis" for r in server.generate_requests()]
    assert kinds == ["image", "analysis", "image"]
    assert max(pyvips.Image.new_from_buffer(result.thumbnail, "").width, 0) == 400
