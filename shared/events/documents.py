"""The published documents: a JSON Schema per event version (2020-12 and Draft 4) and the AsyncAPI document.

In the ``shoebox-events`` wheel they are package data (``shoebox_events/published/``); in the repository
they are the committed ``schemas/`` directory that ``python -m shared.events.schemas write`` generates.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .envelope import Event


def documents_dir() -> Traversable:
    """The directory holding ``asyncapi.json``, ``events/<type>.json`` and ``events-draft4/<type>.json``."""
    packaged = files(__package__) / "published"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "schemas"  # the repository's


def event_json_schema(cls: type[Event[Any]], *, draft4: bool = False) -> dict[str, Any]:
    """The JSON Schema of one event version: 2020-12, or Draft 4 (the EventBridge schema registry's)."""
    folder = "events-draft4" if draft4 else "events"
    schema: dict[str, Any] = json.loads(
        (documents_dir() / folder / f"{cls.type_name()}.json").read_text("utf-8")
    )
    return schema
