"""The Gemini video provider, the real google-genai client against the local wire-format server
(tests/support/gemini_server.py): the preview's upload, the wait for ACTIVE and the file's deletion seen on
the wire; the prompt carrying the figures and the trip (and on a feedback pass the turns and the previous
recommendations); a structured answer decoded; out-of-range values clamped; unparseable answers and trims
that keep nothing asked again, then a clear ``ProviderError``; a preview that never becomes ACTIVE failing
within its wait; the key never logged; and the factory's choice."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import msgspec
import pytest

from services.video.gemini import SYSTEM, GeminiVideo, VideoAnswer, video_provider
from services.video.model import Advice, Recommendations, VideoAnalysis, VideoContext
from services.video.offline import OfflineVideoProvider
from shared.runtime.ai import ProviderError
from shared.runtime.config import AiSettings, Settings
from shared.runtime.gemini import GeminiCaller, response_schema
from tests.support.gemini_server import GeminiServer, Reply, file_parts, prompt_text
from tests.support.paths import TESTDATA
from tests.support.wait import until

pytestmark = pytest.mark.anyio

KEY = "AIza-video-test-key-9b1e"  # looked for in every log line
PREVIEW = TESTDATA / "videos" / "real" / "carphone_distorted.mp4"  # a real (small) MP4, read in place
ANALYSIS = VideoAnalysis(
    duration_s=12.5,
    width=1280,
    height=720,
    fps=29.97,
    has_audio=True,
    luma_mean=62.0,
    luma_low=18.5,
    luma_high=121.25,
    saturation=21.0,
    cast_u=4.5,
    cast_v=-1.5,
    noise=3.75,
    shake=2.4,
    trim_in_s=1.2,
    notes=("starts on 1.2 s of black",),
)
CONTEXT = VideoContext(name="harbour.mp4", trip="Weekend in Kyoto, autumn leaves")
GOOD = {
    "recommendations": {
        "brightness": 0.12,
        "contrast": 1.15,
        "gamma": 1.1,
        "saturation": 1.2,
        "warmth": 0.2,
        "tint": 0.0,
        "stabilise": 0.6,
        "denoise": 0.3,
        "sharpen": 0.1,
        "trim_in_s": 1.2,
        "trim_out_s": None,
        "reason": "Dark, shaky and slightly blue; starts on black.",
    },
    "not_understood": [],
}


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


def provider_for(server: GeminiServer, **more: Any) -> GeminiVideo:
    ai = settings(server, **more)

    async def key() -> str:
        return ai.gemini_api_key

    return GeminiVideo(GeminiCaller(ai, key=key, file_poll_s=0.02))


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer(respond=lambda body: Reply.json(GOOD)) as s:
        yield s


def wire(server: GeminiServer) -> list[tuple[str, str]]:
    """The requests as (method, path without the query and the API version)."""
    out = []
    for r in server.requests:
        path = r.path.split("?", 1)[0]
        for version in ("/v1beta/", "/v1/"):
            path = path.replace(version, "/")
        out.append((r.method, path))
    return out


# --------------------------------------------------------------------------- the wire
async def test_the_preview_is_uploaded_used_once_active_and_deleted_after_the_answer(
    server: GeminiServer,
) -> None:
    advice = await provider_for(server).recommend(ANALYSIS, preview=PREVIEW, context=CONTEXT)

    assert wire(server) == [
        ("POST", "/upload/files"),  # the resumable upload starts
        ("POST", "/upload-session/f0001"),  # the bytes, finalized: the file is PROCESSING
        ("GET", "/files/f0001"),  # polled until ACTIVE
        ("POST", "/models/gemini-2.5-flash:generateContent"),
        ("DELETE", "/files/f0001"),  # deleted once answered
    ]
    start, upload = server.requests[:2]
    assert start.headers["x-goog-api-key"] == KEY
    assert upload.body == PREVIEW.read_bytes()  # the preview as it is on disk
    [request] = server.generate_requests()
    [video] = file_parts(request.json())
    assert video.get("fileUri", video.get("file_uri", "")).endswith("/files/f0001")
    assert video.get("mimeType", video.get("mime_type")) == "video/mp4"
    assert server.deleted == ["files/f0001"] and server.files == {}

    # the structured answer, decoded
    assert advice == Advice(recommendations=Recommendations(**GOOD["recommendations"]))  # type: ignore[arg-type]


async def test_the_prompt_carries_the_figures_the_trip_and_the_schema_with_its_bounds(
    server: GeminiServer,
) -> None:
    await provider_for(server, video_model="gemini-test-video").recommend(
        ANALYSIS, preview=PREVIEW, context=CONTEXT
    )
    [request] = server.generate_requests()
    assert request.path.split("?")[0].endswith("/models/gemini-test-video:generateContent")
    body = request.json()
    text = prompt_text(body)
    assert "Trip: Weekend in Kyoto, autumn leaves" in text and "Clip: harbour.mp4" in text
    assert "preview is attached" in text
    # each figure named, with its value and its meaning
    for figure in (
        "duration: 12.50 s; 1280x720 upright at 29.97 fps; audio: yes",
        "luma mean: 62.0 (0..255 levels",
        "luma 10th / 90th percentile: 18.5 / 121.2 (spread 102.8",
        "saturation: 21.0 (mean chroma distance from grey",
        "colour cast: u +4.5, v -1.5",
        "noise: 3.75 (luma sigma",
        "shake: 2.40 (mean high-frequency motion between frames",
        "suggested trim: from 1.20 s to 12.50 s",
        "noticed: starts on 1.2 s of black",
    ):
        assert figure in text
    # structured output: the schema generated from the answer's type, the bounds in it
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert schema == response_schema(VideoAnswer)
    brightness = schema["properties"]["recommendations"]["properties"]["brightness"]
    assert (brightness["minimum"], brightness["maximum"]) == (-0.5, 0.5)
    system = prompt_text({"contents": [body["systemInstruction"]]})
    assert system == SYSTEM and "- brightness (-0.5..0.5)" in system and "- stabilise (0..1)" in system


async def test_without_a_preview_nothing_is_uploaded_and_the_prompt_says_so(server: GeminiServer) -> None:
    await provider_for(server).recommend(ANALYSIS, preview=None, context=CONTEXT)
    assert [m for m, _ in wire(server)] == ["POST"]  # the one generateContent, no Files API
    body = server.generate_requests()[0].json()
    assert file_parts(body) == []
    assert "No preview of this clip is available: recommend from these figures alone." in prompt_text(body)


async def test_a_feedback_pass_sends_the_sentence_the_turns_and_the_previous_recommendations(
    server: GeminiServer,
) -> None:
    previous = Advice(recommendations=Recommendations(brightness=0.1, stabilise=0.5, reason="dark"))
    context = VideoContext(
        name="harbour.mp4", trip="Kyoto", history=(("warmer please", "Warmed the white balance."),)
    )
    server.respond = lambda body: Reply.json({**GOOD, "not_understood": ["add music"]})
    advice = await provider_for(server).recommend(
        ANALYSIS,
        preview=None,
        context=context,
        feedback="less shaky, and add music",
        previous=previous,
    )
    text = prompt_text(server.generate_requests()[0].json())
    assert 'The person now asks: "less shaky, and add music"' in text
    assert '- the person: "warmer please" / you: "Warmed the white balance."' in text
    was = msgspec.json.encode(previous.recommendations).decode()
    assert f"The previous recommendations (what the clip shows now): {was}" in text
    assert advice.not_understood == ("add music",)


# --------------------------------------------------------------------------- what the answer may be
async def test_out_of_range_values_are_clamped_to_the_bounds_not_asked_again(server: GeminiServer) -> None:
    wild = {
        "brightness": 0.9,  # past +0.5
        "contrast": 5,  # an integer, past 2
        "saturation": -0.4,  # below 0
        "stabilise": 1.7,
        "trim_in_s": -2.0,  # before the start: no trim in
        "trim_out_s": 99.0,  # past the end: no trim out
        "reason": "All the way.",
    }
    server.respond = lambda body: Reply.json({"recommendations": wild})
    advice = await provider_for(server).recommend(ANALYSIS, preview=None, context=CONTEXT)
    assert advice.recommendations == Recommendations(
        brightness=0.5, contrast=2.0, saturation=0.0, stabilise=1.0, reason="All the way."
    )
    assert len(server.generate_requests()) == 1  # clamped, not asked again


async def test_an_unparseable_answer_is_asked_again_and_then_fails_clearly(server: GeminiServer) -> None:
    server.queue(Reply.text('{"recommendations": {"brightn'))  # truncated, then a good answer
    advice = await provider_for(server).recommend(ANALYSIS, preview=PREVIEW, context=CONTEXT)
    assert advice.recommendations.brightness == 0.12
    assert len(server.generate_requests()) == 2

    server.respond = lambda body: Reply.text("Sure! Brighten it a bit.")  # never JSON
    with pytest.raises(ProviderError) as raised:
        await provider_for(server).recommend(ANALYSIS, preview=PREVIEW, context=CONTEXT)
    message = str(raised.value)
    assert "the video recommendations for harbour.mp4 is not JSON" in message
    assert "(3 attempt(s))" in message
    assert len(server.generate_requests()) == 2 + 3  # asked within SHOEBOX_AI_RETRY_ATTEMPTS
    assert server.deleted == ["files/f0001", "files/f0002"]  # the failed pass's preview deleted too


async def test_a_wrong_type_and_a_trim_that_keeps_nothing_are_asked_again(server: GeminiServer) -> None:
    server.queue(
        Reply.json({"recommendations": {"brightness": "a bit"}}),
        Reply.json({"recommendations": {"trim_in_s": 8.0, "trim_out_s": 7.5}}),  # out before in
        Reply.json({"recommendations": {"trim_in_s": 30.0}}),  # past the end: keeps nothing
    )
    with pytest.raises(ProviderError) as raised:
        await provider_for(server).recommend(ANALYSIS, preview=None, context=CONTEXT)
    assert "keeps less than 1 s" in str(raised.value)
    assert len(server.generate_requests()) == 3

    server.queue(Reply.json({"recommendations": {"trim_in_s": 8.0, "trim_out_s": 7.5}}))
    advice = await provider_for(server).recommend(ANALYSIS, preview=None, context=CONTEXT)
    assert advice.recommendations.trim_in_s == 1.2  # the second answer (GOOD)


async def test_a_preview_that_never_becomes_active_fails_clearly_within_its_wait(
    server: GeminiServer,
) -> None:
    server.file_states = ["PROCESSING"]
    with pytest.raises(ProviderError) as raised:
        await provider_for(server, file_wait_s=0.3).recommend(ANALYSIS, preview=PREVIEW, context=CONTEXT)
    assert "the preview of harbour.mp4 was still PROCESSING in the Files API after 0.3 s" in str(raised.value)
    polls = [r for r in server.requests if r.method == "GET"]
    # polled every 0.02..0.03 s within the 0.3 s wait: bounded, never open-ended
    assert 1 <= len(polls) <= 0.3 / 0.02 + 1
    assert server.generate_requests() == []  # nothing asked about a clip Gemini cannot see
    assert server.deleted == ["files/f0001"]  # the stuck file deleted


async def test_an_api_error_past_the_clients_retries_is_a_provider_error(server: GeminiServer) -> None:
    server.respond = lambda body: Reply.error(400, "bad request")
    with pytest.raises(ProviderError, match="Gemini answered 400 INVALID_ARGUMENT"):
        await provider_for(server).recommend(ANALYSIS, preview=PREVIEW, context=CONTEXT)
    assert server.deleted == ["files/f0001"]


# --------------------------------------------------------------------------- the key, the factory
async def test_the_key_is_never_logged(server: GeminiServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the client's and httpx's included
    server.queue(Reply.text("not json"), Reply.json({"recommendations": {"brightness": 3.0}}))
    provider = provider_for(server)
    await provider.recommend(ANALYSIS, preview=PREVIEW, context=CONTEXT)
    assert caplog.records  # something was logged (the clamp, the client): the check is not vacuous
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert "clamped to the bounds: brightness 3->0.5" in logged
    assert KEY not in logged
    assert KEY not in repr(provider)


def test_the_factory_is_gemini_with_a_key_or_its_parameter_offline_otherwise() -> None:
    keyed = video_provider(Settings(ai=AiSettings(gemini_api_key=KEY, video_model="m")))
    assert isinstance(keyed, GeminiVideo) and keyed.name == "gemini" and keyed.ai.video_model == "m"
    assert isinstance(video_provider(Settings(ai=AiSettings(gemini_api_key_parameter="/k"))), GeminiVideo)

    assert isinstance(video_provider(Settings()), OfflineVideoProvider)


async def test_a_pass_cancelled_while_waiting_for_the_answer_still_deletes_its_preview(
    server: GeminiServer,
) -> None:
    release = threading.Event()

    def stuck(body: dict[str, Any]) -> Reply:  # the model never answers (until the test ends)
        release.wait(30)
        return Reply.json(GOOD)

    server.respond = stuck
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(provider_for(server).recommend, ANALYSIS, preview=PREVIEW, context=CONTEXT)
            )
            await until(server.generate_requests, what="the request to be in flight")
            tg.cancel_scope.cancel()  # a worker stopping mid-request
        assert server.deleted == ["files/f0001"]  # the shielded delete ran despite the cancellation
    finally:
        release.set()
