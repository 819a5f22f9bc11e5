"""media_process handler pieces that need no stack: which decided upload new bytes replace."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.media_process import handlers
from shared.events import catalogue as c
from shared.runtime.log import EventLog
from shared.runtime.projections import file_key


class _Views:
    """The one read-model item ``replaced_upload`` looks at (an EventLog for ``get_view`` only)."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item

    async def get_view(self, key: object) -> dict[str, Any] | None:
        assert key == file_key("s1", "uploads/s1/a.jpg")
        return self.item


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (None, None),
        (
            {"status": "processed", "etag": "old", "sha256": "ab12"},
            c.Replaced(etag="old", status="processed", sha256="ab12"),
        ),
        ({"status": "rejected", "etag": "old", "sha256": "ab12"}, c.Replaced(etag="old", status="rejected")),
        ({"status": "duplicate", "etag": "old"}, c.Replaced(etag="old", status="duplicate")),
        ({"status": "processed", "etag": "old", "sha256": 7}, c.Replaced(etag="old", status="processed")),
        ({"status": "processed", "etag": "new"}, None),  # the same bytes again: a redelivery
        ({"status": "pending", "etag": "old"}, None),  # not decided
        ({"status": ["processed"], "etag": "old"}, None),
        ({"status": "processed"}, None),
        ({"status": "processed", "etag": 3}, None),
    ],
)
async def test_replaced_names_the_decided_upload_new_bytes_replace(
    item: dict[str, Any] | None, expected: c.Replaced | None
) -> None:
    views = cast(EventLog, _Views(item))
    assert await handlers.replaced_upload(views, "s1", "uploads/s1/a.jpg", "new") == expected
