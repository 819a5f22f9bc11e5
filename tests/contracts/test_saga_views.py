"""The sagas read read-model items raw (``$.Item.processed.N``): every attribute they read is a field of
the item's Struct, of the type that attribute has, and the projections write it there with that type by
the time the saga reads it."""

from __future__ import annotations

import datetime as dt
import json
import re
import types
import typing
from typing import Any, Literal

import anyio
import msgspec
import pytest

from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.events.codec import make_event
from shared.runtime.attributes import to_item
from shared.runtime.log import InMemoryEventLog
from shared.runtime.projections import counters_key, job_key, view_type
from shared.runtime.read_models import CountersView, JobView, ViewItem
from shared.runtime.views import ViewKey
from tests.support.paths import ROOT

SAGAS = sorted((ROOT / "deploy" / "sagas").glob("*.asl.json"))
GET_ITEM = "arn:aws:states:::dynamodb:getItem"
#: a DynamoDB type descriptor and the Python types of a field that holds one
TAGS: dict[str, tuple[type, ...]] = {"N": (int, float), "S": (str,), "BOOL": (bool,)}
_FORMAT = re.compile(r"^States\.Format\('([^']*)\{\}'")


class Read(msgspec.Struct, frozen=True):
    """One attribute a saga reads from a views-table item."""

    state: str
    view: type[ViewItem]
    field: str
    tag: str
    #: read in a ResultSelector: the item must have it whenever the saga reads the item
    always: bool


def _key_part(value: dict[str, str]) -> str:
    """A key attribute of a GetItem's ``Key`` as a sample value: ``{"S": "COUNTERS"}`` or
    ``{"S.$": "States.Format('JOB#{}', $.job_id)"}``."""
    if "S" in value:
        return value["S"]
    m = _FORMAT.match(value["S.$"])
    assert m, f"cannot read the key {value}"
    return m.group(1) + "x"


def _paths(node: Any) -> list[str]:
    """Every string in a state (the paths its fields and conditions use)."""
    if isinstance(node, dict):
        return [p for v in node.values() for p in _paths(v)]
    if isinstance(node, list):
        return [p for v in node for p in _paths(v)]
    return [node] if isinstance(node, str) else []


def reads(definition: dict[str, Any]) -> list[Read]:
    """The views-table attributes a state machine reads: in a GetItem's ResultSelector
    (``$.Item.<field>.<T>``), and where a ResultSelector keeps the whole item, in any later state
    (``$.job.item.<field>.<T>``)."""
    states: dict[str, Any] = definition["States"]
    out: list[Read] = []
    for name, state in states.items():
        if state.get("Resource") != GET_ITEM or state["Parameters"].get("TableName.$") != "$.views_table":
            continue
        key = state["Parameters"]["Key"]
        view = view_type(ViewKey(_key_part(key["pk"]), _key_part(key["sk"])))
        for alias, path in state.get("ResultSelector", {}).items():
            for field, tag in re.findall(r"\$\.Item\.(\w+)\.(\w+)", path):
                out.append(Read(name, view, field, tag, always=True))
            if path == "$.Item":  # the whole item, read later through its result path
                kept = re.escape(f"{state['ResultPath']}.{alias.removesuffix('.$')}")
                for other, later in states.items():
                    for p in _paths(later):
                        for field, tag in re.findall(kept + r"\.(\w+)\.(\w+)", p):
                            out.append(Read(other, view, field, tag, always=False))
    return out


def _accepts(annotation: Any, tag: str) -> bool:
    """Whether a field of this type holds ``tag`` values and nothing else (None aside: a NULL is never
    read as a value)."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    kinds: set[Any] = set()
    for m in typing.get_args(annotation) if union else (annotation,):
        if m is type(None):
            continue
        kinds |= {type(v) for v in typing.get_args(m)} if typing.get_origin(m) is Literal else {m}
    return bool(kinds) and kinds <= set(TAGS[tag])


ALL_READS = [r for path in SAGAS for r in reads(json.loads(path.read_text()))]
#: the enhancement saga reads only its own job (``test_the_enhancement_job_has_what_its_saga_reads``)
ENHANCEMENT_READS = [
    r for path in SAGAS if path.name == "enhancement.asl.json" for r in reads(json.loads(path.read_text()))
]


def test_the_triage_saga_reads_are_found() -> None:
    """The parser sees what the saga reads (so the checks below check something)."""
    found = {(r.view, r.field, r.tag, r.always) for r in ALL_READS}
    assert found >= {
        (CountersView, "processed", "N", True),
        (CountersView, "rejected", "N", True),
        (CountersView, "duplicate", "N", True),
        (CountersView, "expected", "N", True),
        (CountersView, "finalized", "BOOL", True),
        (JobView, "result_attempt", "N", False),
        (JobView, "status", "S", False),
    }


@pytest.mark.parametrize("read", ALL_READS, ids=lambda r: f"{r.state}:{r.view.__name__}.{r.field}.{r.tag}")
def test_every_attribute_a_saga_reads_is_a_field_of_that_type(read: Read) -> None:
    hints = typing.get_type_hints(read.view)
    assert read.field in hints, f"{read.view.__name__} has no field {read.field!r}"
    assert read.tag in TAGS, f"unknown type descriptor {read.tag}"
    assert _accepts(hints[read.field], read.tag), f"{read.view.__name__}.{read.field} is {hints[read.field]}"


def _stored(log: InMemoryEventLog, key: ViewKey) -> dict[str, Any]:
    """The item as DynamoDB holds it: the attribute values the saga's paths walk."""
    return to_item(log.stored_views[key])


def test_the_projections_write_what_the_saga_reads_when_it_reads_it() -> None:
    """From the saga's first poll (after init) the counters have every attribute it reads, typed; the
    job has its status; once the result is in, everything the saga reads is there."""
    sid = "7d1f1b36-2d7b-4c0e-9a51-2b1f0c7e6a10"
    keys = {CountersView: counters_key(sid), JobView: job_key(sid, "j1")}

    def ev(data: Any) -> Any:
        return make_event(data, source="t", session_id=sid)

    def check(log: InMemoryEventLog, *, result_in: bool) -> None:
        for r in (r for r in ALL_READS if r not in ENHANCEMENT_READS):
            item = _stored(log, keys[r.view])
            if r.always or result_in or r.field == "status":
                assert r.field in item, f"{r.state} reads {r.field} before it is written"
            if r.field in item:
                assert r.tag in item[r.field], f"{r.state} reads {r.field}.{r.tag}, stored {item[r.field]}"

    async def run() -> None:
        log = InMemoryEventLog()
        await log.commit(
            [
                ev(c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="x"))),
                ev(c.TriageInitializedData(job_id="j1", expected=2)),
            ]
        )
        check(log, result_in=False)
        deadline = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        await log.commit([ev(c.UploadFinalizedData(job_id="j1", uploaded=2, deadline=deadline))])
        await log.commit(
            [
                ev(
                    c.TriageRequestedData(
                        job_id="j1", attempt=1, expected=2, processed=0, rejected=0, duplicate=0
                    )
                )
            ]
        )
        check(log, result_in=False)
        await log.commit(
            [
                ev(
                    c.TriageCompletedData(
                        job_id="j1", attempt=1, keep=0, discard=0, results_key="r", provider="p"
                    )
                )
            ]
        )
        check(log, result_in=True)

    anyio.run(run)


def test_the_enhancement_job_has_what_its_saga_reads() -> None:
    """From the job's creation (before any chunk is fanned out) its view has every count the saga adds up
    and its total, as numbers."""
    sid = "7d1f1b36-2d7b-4c0e-9a51-2b1f0c7e6a10"
    assert {r.field for r in ENHANCEMENT_READS} == {"done", "failed", "cancelled", "skipped", "total"}

    async def run() -> None:
        log = InMemoryEventLog()
        created = en.EnhancementInitializedData(job_id="e1", total=3, photos=3, videos=0)
        await log.commit(
            [
                make_event(
                    c.SessionCreatedV2Data(owner="u", trip=c.Trip(context="x")), source="t", session_id=sid
                ),
                make_event(created, source="t", session_id=sid),
            ]
        )
        item = _stored(log, job_key(sid, "e1"))
        for r in ENHANCEMENT_READS:
            assert r.view is JobView and r.always
            assert r.field in item and r.tag in item[r.field], f"{r.state} reads {r.field}.{r.tag}: {item}"

    anyio.run(run)


def test_the_sagas_are_found() -> None:
    assert sorted(p.name for p in SAGAS) == ["enhancement.asl.json", "selection.asl.json", "triage.asl.json"]
