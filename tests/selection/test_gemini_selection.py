"""Selection with Gemini against the local wire-format server: one stage up to the limit, two stages above
it, ids mapped back to keys, scenes placed, failures as ``SelectionError``, the token budget."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from services.selection.gemini_selection import GeminiSelection, ModelSelection, chunks
from services.selection.reconcile import AnswerRejected, reconcile
from services.selection.selection_provider import SelectionError, SelectionItem
from shared.events import catalogue as c
from shared.events.selection_results import Exclusion
from shared.runtime.config import AiSettings
from shared.runtime.gemini import GeminiCaller, response_schema
from shared.runtime.storage import InMemoryObjectStore
from tests.support.gemini_server import GeminiServer, Reply, inline_parts, prompt_text

pytestmark = pytest.mark.anyio

KEY = "AIza-selection-test-key"
LINE = re.compile(r"^(m\d{3}): \w+, ([^;]+)", re.M)
T0 = dt.datetime(2024, 5, 3, 9, 0)


def listed(body: dict[str, Any]) -> list[str]:
    return [m[1] for m in LINE.finditer(prompt_text(body))]


def wanted(body: dict[str, Any]) -> int:
    m = re.search(r"Select the best (\d+)", prompt_text(body))
    return int(m[1]) if m else len(listed(body))


def model(body: dict[str, Any]) -> Reply:
    """Picks the first N listed, excludes the rest, one scene."""
    ids = listed(body)
    n = wanted(body)
    return Reply.json(
        {
            "selected": [{"id": i, "scene": "s1", "reason": "good"} for i in ids[:n]],
            "excluded": [{"id": i, "category": "quality", "reason": "weaker"} for i in ids[n:]],
            "scene_groups": [{"id": "s1", "label": "Kyoto", "items": ids}],
        }
    )


def items(n: int) -> list[SelectionItem]:
    return [
        SelectionItem(
            key=f"uploads/s/{k:03d}.jpg",
            name=f"{k:03d}.jpg",
            kind="photo",
            media_type="image/jpeg",
            # two scenes, 5 hours apart
            metadata=c.MediaMetadata(
                captured_at=T0 + dt.timedelta(minutes=k if k < n // 2 else 300 + k),
                gps=c.GeoPoint(lat=35.0 + k / 1000, lon=135.7),
            ),
            thumbnail=f"thumbnails/s/{k:03d}.jpg",
        )
        for k in range(n)
    ]


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer(respond=model) as s:
        yield s


async def provider(server: GeminiServer, cands: list[SelectionItem], **settings: Any) -> GeminiSelection:
    store = InMemoryObjectStore()
    for i in cands:
        assert i.thumbnail
        await store.put(i.thumbnail, b"jpeg", "image/jpeg")
    ai = AiSettings(
        **{
            "gemini_api_key": KEY,
            "gemini_base_url": server.url,
            "retry_attempts": 2,
            "retry_initial_delay_s": 0.01,
            "selection_one_stage_limit": 10,
            **settings,
        }
    )

    async def key() -> str:
        return KEY

    return GeminiSelection(GeminiCaller(ai, key=key), store)


async def test_one_stage_sees_every_item_and_answers_keys(server: GeminiServer) -> None:
    cands = items(6)
    answer = await (await provider(server, cands)).select(cands, context="Kyoto", count=3)
    [req] = [r.json() for r in server.generate_requests()]
    assert len(inline_parts(req)) == 6 and "Trip: Kyoto" in prompt_text(req)
    assert req["generationConfig"]["responseJsonSchema"] == response_schema(ModelSelection)
    assert [p.key for p in answer.selected] == [i.key for i in cands[:3]]
    assert [p.rank for p in answer.selected] == [1, 2, 3]
    assert {e.key for e in answer.excluded} == {i.key for i in cands[3:]}
    [scene] = answer.scene_groups
    assert scene.start == T0 and scene.place is not None and len(scene.items) == 6
    assert answer.tokens == 120


async def test_above_the_limit_two_stages_shortlist_per_chunk_then_pick(server: GeminiServer) -> None:
    cands = items(16)  # limit 10: two chunks, cut at the 5-hour gap
    assert [len(ch) for ch in chunks(cands, 10)] == [8, 8]
    answer = await (await provider(server, cands)).select(cands, context="", count=4)
    sent = [listed(r.json()) for r in server.generate_requests()]
    assert [len(s) for s in sent] == [8, 8, 8]  # two shortlists of 4, then the final pick over those 8
    assert len(answer.selected) == 4
    assert len(answer.selected) + len(answer.excluded) == 16  # every candidate once
    assert [s.id for s in answer.scene_groups] == ["s1", "s2"]
    assert answer.tokens == 360


async def test_invented_ids_are_dropped_and_dropped_items_left_to_reconcile(server: GeminiServer) -> None:
    server.queue(
        Reply.json(
            {
                "selected": [
                    {"id": "m001", "scene": "s1", "reason": "r"},
                    {"id": "m077", "scene": "s1", "reason": "?"},
                ],
                "excluded": [],
                "scene_groups": [],
            }
        )
    )
    cands = items(3)
    answer = await (await provider(server, cands)).select(cands, context="", count=1)
    assert [p.key for p in answer.selected] == [cands[0].key] and answer.excluded == []


async def test_5xx_until_the_budget_ends_is_a_selection_error(server: GeminiServer) -> None:
    server.respond = lambda body: Reply.error(500, "boom")
    cands = items(3)
    with pytest.raises(SelectionError) as raised:
        await (await provider(server, cands)).select(cands, context="", count=1)
    assert raised.value.code == "provider_error" and "500" in str(raised.value)
    assert len(server.generate_requests()) == 2


async def test_truncated_json_is_a_selection_error_after_its_attempts(server: GeminiServer) -> None:
    server.respond = lambda body: Reply.text('{"selected": [{"id": "m0')
    cands = items(3)
    with pytest.raises(SelectionError, match="not the JSON asked for"):
        await (await provider(server, cands)).select(cands, context="", count=1)


async def test_the_token_budget_stops_before_a_request_that_would_pass_it(server: GeminiServer) -> None:
    def costly(body: dict[str, Any]) -> Reply:
        good = model(body)
        return Reply.text(
            json.loads(good.body)["candidates"][0]["content"]["parts"][0]["text"], prompt_tokens=3000
        )

    server.respond = costly
    cands = items(16)  # each shortlist request is estimated at ~3,700 tokens and costs 3,020
    with pytest.raises(SelectionError, match="token budget exceeded"):
        await (await provider(server, cands, session_token_budget=6000)).select(cands, context="", count=4)
    assert len(server.generate_requests()) == 1


async def test_a_429_then_success_completes(server: GeminiServer) -> None:
    server.queue(Reply.error(429, "quota"))
    cands = items(3)
    answer = await (await provider(server, cands)).select(cands, context="", count=1)
    assert len(answer.selected) == 1 and len(server.generate_requests()) == 2


async def test_an_answer_that_repeats_items_is_made_exactly_once(server: GeminiServer) -> None:
    def repeat(body: dict[str, Any]) -> Reply:
        ids = listed(body)
        return Reply.json(
            {
                "selected": [
                    {"id": ids[0], "scene": "s1", "reason": "best"},
                    {"id": ids[0], "scene": "s1", "reason": "again"},
                ],
                "excluded": [
                    {"id": i, "category": "quality", "reason": "weaker"} for i in [*ids[1:], ids[1]]
                ],
                "scene_groups": [{"id": "s1", "label": "Kyoto", "items": ids}],
            }
        )

    server.respond = repeat
    cands = items(3)
    answer = await (await provider(server, cands)).select(cands, context="", count=1)
    # the provider hands the answer on as given; the handler's reconcile makes it exactly once
    fixed = reconcile({i.key: i.name for i in cands}, answer, count=1)
    assert [p.key for p in fixed.selected] == [cands[0].key]
    assert sorted(e.key for e in fixed.excluded) == [i.key for i in cands[1:]]
    assert fixed.repairs  # and says what it repaired
    # one item both picked and excluded: which is meant is unclear, so the job fails with that reason
    both = msgspec.structs.replace(
        answer,
        excluded=[
            *answer.excluded,
            Exclusion(key=cands[0].key, name=cands[0].name, category="quality", reason="weaker"),
        ],
    )
    with pytest.raises(AnswerRejected, match=r"both picked and excluded: 000\.jpg"):
        reconcile({i.key: i.name for i in cands}, both, count=1)


async def test_a_video_preview_that_stays_processing_past_its_wait_is_a_selection_error(
    server: GeminiServer,
) -> None:
    server.file_states = ["PROCESSING"]
    cands = [
        *items(2),
        SelectionItem(
            key="uploads/s/clip.mp4",
            name="clip.mp4",
            kind="video",
            media_type="video/mp4",
            preview="previews/s/clip.mp4",
        ),
    ]
    chosen = await provider(server, cands[:2], file_wait_s=0.2)
    await chosen.store.put("previews/s/clip.mp4", b"mp4", "video/mp4")
    with pytest.raises(SelectionError) as raised:
        await chosen.select(cands, context="", count=1)
    assert raised.value.code == "provider_error" and "clip.mp4 was still PROCESSING" in str(raised.value)
    assert server.generate_requests() == []
