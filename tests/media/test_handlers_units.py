"""media_process handler pieces that need no stack: which decided upload new bytes replace."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.media_process import handlers
from shared.events import catalogue as c
from shared.runtime.log import EventLog
from shared.runtime.projections import file_key
from shared.runtime.read_models import FileView, ViewShapeError, decode
from shared.runtime.views import ViewKey


class _Views:
    """The one read-model item ``replaced_upload`` looks at (an EventLog for ``get_view`` only), stored as
    plain values and decoded as the logs decode it."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item

    async def get_view(self, key: ViewKey, *, type: type[FileView]) -> FileView | None:
        assert key == file_key("s1", "uploads/s1/a.jpg")
        return decode({"pk": key.pk, "sk": key.sk, **self.item}, type) if self.item is not None else None


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
        ({"status": "processed", "etag": "new"}, None),  # the same bytes again: a redelivery
        ({"deleted": True, "deleted_reason": "cleanup"}, None),  # deleted before it was decided
        # deleted after it was decided: counted under its decision until these bytes, even the same
        ({"status": "rejected", "etag": "new", "deleted": True}, c.Replaced(etag="new", status="rejected")),
        ({"status": "processed"}, None),
    ],
)
async def test_replaced_names_the_decided_upload_new_bytes_replace(
    item: dict[str, Any] | None, expected: c.Replaced | None
) -> None:
    views = cast(EventLog, _Views(item))
    assert await handlers.replaced_upload(views, "s1", "uploads/s1/a.jpg", "new") == expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    "item",
    [
        {"status": "pending", "etag": "old"},  # not a decision
        {"status": ["processed"], "etag": "old"},
        {"status": "processed", "etag": 3},
        {"status": "processed", "etag": "old", "sha256": 7},
    ],
)
async def test_a_file_item_of_another_shape_is_refused_not_guessed_at(item: dict[str, Any]) -> None:
    """The read is typed: an item no projection writes is a ``ViewShapeError`` (rebuild the views)."""
    views = cast(EventLog, _Views(item))
    with pytest.raises(ViewShapeError):
        await handlers.replaced_upload(views, "s1", "uploads/s1/a.jpg", "new")
