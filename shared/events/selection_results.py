"""The selection's published result: the results file the selection service writes and the API reads.

``selection.completed`` carries the key of one ``SelectionResults`` JSON file in the media bucket
(``results/<session>/selection-<job>-<attempt>.json``: a result can exceed an event's 64 KB). Its types live
here, beside the events in ``catalogue`` (which stays under the module size limit), and follow the same rules:
a new optional field with a default is compatible; a new ``ExclusionCategory`` value or a changed meaning
raises ``SelectionResults.version``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from .catalogue import GeoPoint

#: why a processed file is not among a selection's picks (the results file's ``excluded``). Stable strings
#: other teams match on: a new value is a new version of the results file (``SelectionResults.version``).
ExclusionCategory = Literal[
    "near_duplicate",  # a near copy of another item (``duplicate_of``) that was preferred
    "quality",  # a weaker shot, or ranked below the requested count
    "off_context",  # not about the trip as the person described it
    "redundant_scene",  # its scene is already covered by the picks
    "discarded_in_triage",  # the session's triage discarded it: never a candidate
    "not_evaluated",  # the provider's answer left it out (repaired in code, never silently lost)
]


class Pick(msgspec.Struct, frozen=True, kw_only=True):
    """One selected item, in rank order (1 = best) in ``SelectionResults.selected``."""

    key: str  # the original's S3 key
    name: str  # the file name as uploaded
    rank: int  # 1..n, contiguous
    scene: str | None = None  # ``SceneGroup.id``
    reason: str
    #: where it beat a near rival: how ("sharper than IMG_2.jpg (0.31 vs 0.12)")
    comparison: str | None = None
    #: only with ``count`` "all", where nothing is collapsed: the burst's best shot this is a near copy of
    duplicate_of: str | None = None
    #: moved here by the person (``PUT …/selections/{job}/picks``), not by the provider
    by_person: bool = False


class Exclusion(msgspec.Struct, frozen=True, kw_only=True):
    """One processed item that is not a pick, with why."""

    key: str
    name: str
    category: ExclusionCategory
    reason: str
    duplicate_of: str | None = None  # set with ``near_duplicate``: the key of the item preferred
    #: moved here by the person (``PUT …/selections/{job}/picks``), not by the provider
    by_person: bool = False


class SceneGroup(msgspec.Struct, frozen=True, kw_only=True):
    """A scene: items close in time and place (or, where either is unknown, in look)."""

    id: str  # "s1", "s2", … in time order
    label: str  # "Scene 2 · 2024-05-03 14:02–14:40 · near 35.0116, 135.7681"
    start: dt.datetime | None = None  # capture time range of its items, when known
    end: dt.datetime | None = None
    place: GeoPoint | None = None  # the centroid of its items' GPS positions, when any has one
    items: list[str] = msgspec.field(default_factory=list)  # keys, in capture order


class SelectionResults(msgspec.Struct, frozen=True, kw_only=True):
    """The selection results file: ``results/<session>/selection-<job>-<attempt>.json`` in the media bucket;
    ``selection.completed`` carries its key. Every processed file of the session appears exactly once across
    ``selected`` and ``excluded`` (checked in code before it is written)."""

    version: int = 1
    job_id: str
    attempt: int
    provider: str  # "offline", "gemini"
    count: int | None = None  # as requested; None = "all"
    context: str = ""
    selected: list[Pick] = msgspec.field(default_factory=list)  # rank order
    excluded: list[Exclusion] = msgspec.field(default_factory=list)  # file-name order
    scene_groups: list[SceneGroup] = msgspec.field(default_factory=list)  # time order
    #: what the handler repaired in the provider's answer (dropped, repeated or invented items), if anything
    repairs: list[str] = msgspec.field(default_factory=list)
    #: tokens the provider used (prompt + output), where it counts them (Gemini)
    tokens: int | None = None
    #: the person's edit this file holds (``selection.picks.edited``); 0: the provider's answer
    revision: int = 0
