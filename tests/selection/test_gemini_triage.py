"""Triage with Gemini, the real google-genai client against the local wire-format server
(tests/support/gemini_server.py): normal answers, 429 then success, 5xx until the retry budget ends,
truncated JSON, answers that drop or repeat items, a Files API upload that stays PROCESSING, the token
budget, and the key never logged. The handler runs on the in-memory log and store (no emulator)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from services.selection import results
from services.selection.gemini import NOT_EVALUATED, GeminiTriage, TriageAnswer
from services.selection.handlers import Deps, handle_triage_requested
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Payload
from shared.runtime.config import AiSettings
from shared.runtime.gemini import GeminiCaller, read_parameter, response_schema
from shared.runtime.log import InMemoryEventLog
from shared.runtime.storage import InMemoryObjectStore
from tests.support.gemini_server import GeminiServer, Reply, file_parts, inline_parts, prompt_text

pytestmark = pytest.mark.anyio

KEY = "AIza-test-key-7f3c9e"  # looked for in every log line
SIGNALS = c.PhotoSignals(
    sharpness=0.3,
    exposure_mean=0.45,
    shadows_clipped=0.0,
    highlights_clipped=0.01,
    colour_cast=5.0,
    phash="0" * 16,
)
CLIP = c.VideoSignals(luma_mean=0.4, luma_spread=0.4, near_uniform=False, duration_s=8.0)
ITEM_LINE = re.compile(r"^(m\d\d): (\w+), ([^;]+)", re.M)


def items_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, file name) of every item listed in a triage request's prompt."""
    return [(m[1], m[3]) for m in ITEM_LINE.finditer(prompt_text(body))]


def verdicts_for(body: dict[str, Any]) -> dict[str, Any]:
    """What a good model answers: discard what is named dark, keep the rest."""
    return {
        "verdicts": [
            {
                "id": i,
                "verdict": "discard" if "dark" in name else "keep",
                "reason": "Too dark." if "dark" in name else "Clear.",
                "confidence": 0.9,
            }
            for i, name in items_of(body)
        ]
    }


def good(body: dict[str, Any]) -> Reply:
    return Reply.json(verdicts_for(body))


class Trip:
    """A session with processed photos (thumbnails in the store) and a video (its preview in the store)."""

    def __init__(self, photos: list[str], videos: list[str] = ()) -> None:  # type: ignore[assignment]
        self.id = str(uuid.uuid4())
        self.log = InMemoryEventLog()
        self.store = InMemoryObjectStore()
        self.photos, self.videos = photos, list(videos)

    async def append(self, payload: Payload, source: str) -> None:
        await self.log.commit([make_event(payload, source=source, session_id=self.id)])

    async def write(self) -> None:
        trip = c.Trip(context="Weekend in Kyoto")
        await self.append(c.SessionCreatedV2Data(owner="u1", trip=trip), "shoebox/api")
        for name in [*self.photos, *self.videos]:
            video = name in self.videos
            thumb = f"thumbnails/{self.id}/{name}.jpg"
            preview = f"previews/{self.id}/{name}.mp4" if video else None
            await self.store.put(thumb, b"\xff\xd8 jpeg of " + name.encode(), "image/jpeg")
            if preview:
                await self.store.put(preview, b"mp4 of " + name.encode(), "video/mp4")
            ref = c.FileRef(bucket="b", key=f"uploads/{self.id}/{name}", name=name, size=100, etag="e1")
            await self.append(
                c.FileProcessedData(
                    file=ref,
                    kind="video" if video else "photo",
                    media_type="video/mp4" if video else "image/jpeg",
                    sha256=uuid.uuid4().hex,
                    keys=c.DerivedKeys(thumbnail=thumb, preview=preview),
                    metadata=c.MediaMetadata(
                        make="Canon", model="EOS 5D", gps=c.GeoPoint(lat=35.0116, lon=135.7681)
                    ),
                    photo=None if video else SIGNALS,
                    video=CLIP if video else None,
                ),
                "shoebox/media_process",
            )

    def request(self) -> c.TriageRequested:
        n = len(self.photos) + len(self.videos)
        data = c.TriageRequestedData(
            job_id="job-1", attempt=1, expected=n, processed=n, rejected=0, duplicate=0
        )
        event = make_event(data, source="shoebox/api", session_id=self.id)
        assert isinstance(event, c.TriageRequested)
        return event

    async def run(self, server: GeminiServer, **settings: Any) -> Payload:
        await self.write()
        ai = AiSettings(
            **{
                "gemini_api_key": KEY,
                "gemini_base_url": server.url,
                "triage_batch_size": 2,
                "retry_attempts": 3,
                "retry_initial_delay_s": 0.01,
                "file_wait_s": 0.5,
                **settings,
            }
        )

        async def key() -> str:
            return ai.gemini_api_key

        provider = GeminiTriage(GeminiCaller(ai, key=key, file_poll_s=0.02), self.store)
        [out] = await handle_triage_requested(
            self.request(), Deps(store=self.store, log=self.log, provider=provider)
        )
        assert isinstance(out, Payload)
        return out

    def written(self, out: Payload) -> results.TriageResults:
        assert isinstance(out, c.TriageCompletedData), out
        return results.decode(self.store.objects[out.results_key][0])


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer(respond=good) as s:
        yield s


async def test_a_normal_run_batches_sends_thumbnails_inline_and_videos_by_file(server: GeminiServer) -> None:
    trip = Trip(["a.jpg", "b-dark.jpg", "c.jpg"], ["d.mp4"])
    out = await trip.run(server)

    written = trip.written(out)
    assert written.provider == "gemini"
    assert [(v.key.rsplit("/", 1)[1], v.verdict) for v in written.verdicts] == [
        ("a.jpg", "keep"),
        ("b-dark.jpg", "discard"),
        ("c.jpg", "keep"),
        ("d.mp4", "keep"),
    ]
    sent = [r.json() for r in server.generate_requests()]
    assert len(sent) == 2  # batches of 2
    assert [len(items_of(b)) for b in sent] == [2, 2]
    # thumbnails inline (never originals), the video by its Files API URI once ACTIVE
    assert [len(inline_parts(b)) for b in sent] == [2, 1]
    [video] = file_parts(sent[1])
    # this client version writes the file part's fields in snake case, as it does inline data's mime type
    assert video.get("mimeType", video.get("mime_type")) == "video/mp4"
    assert video.get("fileUri", video.get("file_uri", "")).endswith("/files/f0001")
    assert [server.files[f]["state"] for f in server.files] == ["ACTIVE"]
    # the context and each item's metadata in the prompt; the schema from the decoded type
    prompt = prompt_text(sent[0])
    assert "Weekend in Kyoto" in prompt and "camera Canon EOS 5D" in prompt and "35.01160,135.76810" in prompt
    assert sent[0]["generationConfig"]["responseJsonSchema"] == response_schema(TriageAnswer)
    assert server.generate_requests()[0].headers["x-goog-api-key"] == KEY
    # token usage in the job's result: 2 answers of 100 + 20
    assert written.usage is not None
    assert (written.usage.requests, written.usage.total_tokens) == (2, 240)


def test_the_response_schema_is_the_subset_gemini_takes() -> None:
    schema = response_schema(TriageAnswer)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text and "title" not in text
    verdict = schema["properties"]["verdicts"]["items"]
    assert verdict["properties"]["verdict"]["enum"] == ["discard", "keep"]
    assert verdict["propertyOrdering"] == ["id", "verdict", "reason", "confidence"]
    assert verdict["properties"]["confidence"]["maximum"] == 1.0


async def test_a_429_then_success_completes(server: GeminiServer) -> None:
    server.queue(Reply.error(429, "quota"))
    out = await Trip(["a.jpg"]).run(server)
    assert isinstance(out, c.TriageCompletedData)
    assert len(server.generate_requests()) == 2


async def test_5xx_until_the_budget_ends_fails_the_job_with_its_reason(server: GeminiServer) -> None:
    server.respond = lambda body: Reply.error(503, "overloaded")
    out = await Trip(["a.jpg"]).run(server, retry_attempts=3)
    assert isinstance(out, c.TriageFailedData)
    assert out.code == "provider_error"
    assert "503" in out.message and "3 attempt" in out.message
    assert len(server.generate_requests()) == 3  # the budget, not one more


async def test_truncated_json_is_asked_again(server: GeminiServer) -> None:
    server.respond = lambda body: Reply.text(json.dumps(verdicts_for(body))[:-7])
    server.queue()
    trip = Trip(["a.jpg"])
    responses = iter([True, False])

    def first_truncated(body: dict[str, Any]) -> Reply:
        text = json.dumps(verdicts_for(body))
        return Reply.text(text[: len(text) // 2]) if next(responses, False) else Reply.text(text)

    server.respond = first_truncated
    out = await trip.run(server)
    assert isinstance(out, c.TriageCompletedData)
    assert len(server.generate_requests()) == 2
    assert trip.written(out).usage.requests == 2  # type: ignore[union-attr]


async def test_truncated_json_every_time_fails_the_job_clearly(server: GeminiServer) -> None:
    server.respond = lambda body: Reply.text(json.dumps(verdicts_for(body))[:-7])
    out = await Trip(["a.jpg"]).run(server)
    assert isinstance(out, c.TriageFailedData)
    assert out.code == "provider_error" and "not the JSON asked for" in out.message
    assert len(server.generate_requests()) == 3


async def test_dropped_items_are_asked_again_then_kept_as_not_evaluated(server: GeminiServer) -> None:
    def drop_last(body: dict[str, Any]) -> Reply:
        answer = verdicts_for(body)
        return Reply.json({"verdicts": answer["verdicts"][:-1]})

    server.respond = drop_last
    trip = Trip(["a.jpg", "b-dark.jpg"])
    out = await trip.run(server)
    written = trip.written(out)
    # the first answer dropped b; asked again alone, the answer dropped it again: kept, never lost
    assert [len(items_of(r.json())) for r in server.generate_requests()] == [2, 1]
    assert [(v.verdict, v.reason) for v in written.verdicts] == [("keep", "Clear."), ("keep", NOT_EVALUATED)]


async def test_a_dropped_item_answered_on_the_second_ask_gets_its_verdict(server: GeminiServer) -> None:
    server.queue(
        Reply.json({"verdicts": [{"id": "m01", "verdict": "keep", "reason": "ok", "confidence": 0.8}]})
    )
    trip = Trip(["a.jpg", "b-dark.jpg"])
    written = trip.written(await trip.run(server))
    assert [v.verdict for v in written.verdicts] == ["keep", "discard"]


async def test_repeated_and_invented_items(server: GeminiServer) -> None:
    def repeat(body: dict[str, Any]) -> Reply:
        answer = verdicts_for(body)["verdicts"]
        invented = {"id": "m99", "verdict": "discard", "reason": "?", "confidence": 0.5}
        return Reply.json({"verdicts": [*answer, answer[0], invented]})  # the same verdict twice: taken once

    server.respond = repeat
    trip = Trip(["a.jpg", "b-dark.jpg"])
    written = trip.written(await trip.run(server))
    assert [v.verdict for v in written.verdicts] == ["keep", "discard"]
    assert len(server.generate_requests()) == 1

    # the same item both kept and discarded: which is meant is unclear, so it is asked again
    conflicting = verdicts_for({"contents": [{"parts": [{"text": "m01: photo, a.jpg; x"}]}]})["verdicts"][0]
    flipped = {**conflicting, "verdict": "discard"}
    server.requests.clear()
    server.queue(Reply.json({"verdicts": [conflicting, flipped]}))
    server.respond = good
    trip = Trip(["a.jpg"])
    written = trip.written(await trip.run(server))
    assert [v.verdict for v in written.verdicts] == ["keep"]
    assert len(server.generate_requests()) == 2


async def test_a_video_that_stays_processing_past_its_wait_fails_the_job(server: GeminiServer) -> None:
    server.file_states = ["PROCESSING"]
    out = await Trip(["a.jpg"], ["clip.mp4"]).run(server, file_wait_s=0.2)
    assert isinstance(out, c.TriageFailedData)
    assert out.code == "provider_error"
    assert "clip.mp4 was still PROCESSING" in out.message
    assert server.generate_requests() == []  # nothing asked about a video Gemini cannot see


async def test_the_token_budget_fails_the_job_before_overspending(server: GeminiServer) -> None:
    # each answer costs 1,000 tokens; the budget holds the first batch, not the second's estimate on top
    server.respond = lambda body: Reply.json(verdicts_for(body), prompt_tokens=900, output_tokens=100)
    out = await Trip(["a.jpg", "b.jpg", "c.jpg"]).run(server, session_token_budget=1500)
    assert isinstance(out, c.TriageFailedData)
    assert out.code == "provider_error" and "token budget exceeded" in out.message
    assert len(server.generate_requests()) == 1  # the second batch was never sent


async def test_the_key_never_appears_in_logs_or_results(
    server: GeminiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the client's and httpx's included
    server.queue(Reply.error(429), Reply.json({"verdicts": []}))  # a retry and a dropped item: warnings
    trip = Trip(["a.jpg"])
    written = trip.written(await trip.run(server))
    server.respond = lambda body: Reply.error(500, "boom")
    failed = await Trip(["a.jpg"]).run(server)
    assert isinstance(failed, c.TriageFailedData)
    assert caplog.records  # something was logged: the check below is not vacuous
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
    assert KEY not in logged
    assert KEY not in failed.message and KEY not in msgspec.json.encode(written).decode()
    assert KEY not in repr(GeminiCaller(AiSettings(gemini_api_key=KEY), key=lambda: None))  # type: ignore[arg-type,return-value]


async def test_the_key_comes_from_ssm_when_the_setting_is_empty() -> None:
    reads: list[str] = []

    async def ssm_read(name: str) -> str:
        reads.append(name)
        return " from-ssm \n"

    on_ssm = AiSettings(gemini_api_key_parameter="/shoebox/gemini")
    assert await read_parameter(on_ssm, ssm_read) == "from-ssm"
    assert await read_parameter(
        AiSettings(gemini_api_key="direct", gemini_api_key_parameter="/p"), ssm_read
    ) == ("direct")
    assert await read_parameter(AiSettings(), ssm_read) == ""
    assert reads == ["/shoebox/gemini"]
