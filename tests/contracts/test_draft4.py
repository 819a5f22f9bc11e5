"""The Draft 4 documents for the EventBridge schema registry (``schemas/events-draft4``).

They are converted from the 2020-12 schemas (``shared/events/schemas/draft4.py``), so: each is a valid Draft
4 schema, says nothing in 2020-12 words (which Draft 4 would silently ignore, accepting more), and real
events validate against it AND against their 2020-12 schema. The import-order guard (``stability.py``) is
checked here too, on the real generator and on a reproduction of the trap.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.exceptions import SchemaError

from shared.events.codec import CATALOGUE
from shared.events.envelope import Event
from shared.events.schemas import (
    DEFAULT_DIR,
    DRAFT4_DIALECT,
    Draft4Error,
    draft4_filename,
    event_schema,
    import_order_differences,
    schema_filename,
    to_draft4,
)
from tests.support.strategies import events

EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DRAFT4_FILES = sorted((DEFAULT_DIR / "events-draft4").glob("*.json"))
#: keywords that mean something in 2020-12 but nothing in Draft 4 (a validator would ignore them)
NOT_DRAFT4 = {"$defs", "$id", "const", "prefixItems", "$anchor", "unevaluatedProperties", "dependentRequired"}


def _id(cls: type[Event[Any]]) -> str:
    return cls.type_name()


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def validators(cls: type[Event[Any]]) -> tuple[Draft4Validator, Draft202012Validator]:
    return (
        Draft4Validator(_load(DEFAULT_DIR / draft4_filename(cls))),
        Draft202012Validator(_load(DEFAULT_DIR / schema_filename(cls))),
    )


def not_draft4(node: Any, where: str = "#") -> list[str]:
    """Where a document still speaks 2020-12: its keywords, ``#/$defs`` refs, numeric exclusive bounds."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "definitions", "patternProperties") and isinstance(value, dict):
                for name, sub in value.items():  # names here are field names, not keywords
                    found += not_draft4(sub, f"{where}/{key}/{name}")
                continue
            if key in ("default", "enum"):
                continue  # values, not schemas
            if key in NOT_DRAFT4:
                found.append(f"{where}: {key}")
            if key == "$ref" and "$defs" in value:
                found.append(f"{where}: $ref {value}")
            if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
                found.append(f"{where}: {key} {value}")
            found += not_draft4(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += not_draft4(value, f"{where}/{i}")
    return found


# --------------------------------------------------------------------------- the committed documents
def test_there_is_one_draft4_document_per_event_version() -> None:
    assert [p.name for p in DRAFT4_FILES] == sorted(f"{cls.type_name()}.json" for cls in CATALOGUE.events)


@pytest.mark.parametrize("path", DRAFT4_FILES, ids=lambda p: p.stem)
def test_every_document_is_a_valid_draft4_schema_in_draft4_words(path: Path) -> None:
    document = _load(path)
    assert document["$schema"] == DRAFT4_DIALECT
    assert "#" not in document["id"]
    Draft4Validator.check_schema(document)
    assert not_draft4(document) == []
    # the EventBridge schema registry takes up to 100,000 characters of content per schema
    assert len(path.read_text(encoding="utf-8")) < 100_000


@pytest.mark.parametrize("cls", CATALOGUE.events, ids=_id)
@EXAMPLES
@given(data=st.data())
def test_real_events_validate_against_their_draft4_and_2020_12_documents(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    document = json.loads(CATALOGUE.encode(data.draw(events(cls))))
    for validator in validators(cls):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, type(validator).__name__


@pytest.mark.parametrize("cls", CATALOGUE.events, ids=_id)
@settings(EXAMPLES, max_examples=3)
@given(data=st.data())
def test_a_wrong_event_is_refused_by_both_documents(cls: type[Event[Any]], data: st.DataObject) -> None:
    """The Draft 4 document is not vacuous: what the 2020-12 one refuses, it refuses too."""
    document = json.loads(CATALOGUE.encode(data.draw(events(cls))))
    wrong = [{**document, "data": "not an object"}, {**document, "type": "shoebox.other.v1"}]
    wrong.append({k: v for k, v in document.items() if k != "sessionid"})
    for bad in wrong:
        assert [v.is_valid(bad) for v in validators(cls)] == [False, False]


# --------------------------------------------------------------------------- the conversion
def test_a_conversion_that_leaves_defs_is_seen_failing() -> None:
    cls = CATALOGUE.type_of("shoebox.media.file.processed.v1")
    assert cls is not None
    good = to_draft4(event_schema(cls))
    assert not_draft4(good) == []
    # a broken converter: definitions left under $defs and the refs pointing there
    broken = json.loads(json.dumps(good).replace("#/definitions/", "#/$defs/"))
    broken["$defs"] = broken.pop("definitions")
    assert not_draft4(broken)  # caught, although jsonschema would happily follow the pointers
    Draft4Validator.check_schema(broken)  # ... which is why the keyword check exists


def test_an_empty_required_list_is_left_out() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": []}
    with pytest.raises(SchemaError):
        Draft4Validator.check_schema({"$schema": DRAFT4_DIALECT, **schema})  # what an unconverted one does
    Draft4Validator.check_schema(to_draft4(schema))


class Bounded(msgspec.Struct):
    positive: Annotated[float, msgspec.Meta(gt=0, le=10)]
    below: Annotated[int, msgspec.Meta(ge=0, lt=5)]
    pair: tuple[int, str]
    only: Annotated[str, msgspec.Meta(min_length=1)] = "x"


def _bounded_draft4() -> Draft4Validator:
    (ref,), defs = msgspec.json.schema_components([Bounded], ref_template="#/$defs/{name}")
    schema = to_draft4({**ref, "$defs": defs})
    Draft4Validator.check_schema(schema)
    assert not_draft4(schema) == []
    return Draft4Validator(schema)


@given(
    positive=st.floats(allow_nan=False, allow_infinity=False),
    below=st.integers(min_value=-10, max_value=10),
    pair=st.tuples(st.integers(), st.text()) | st.tuples(st.text(), st.integers()) | st.just(()),
)
@settings(max_examples=60, deadline=None)
def test_draft4_accepts_exactly_what_msgspec_accepts(
    positive: float, below: int, pair: tuple[Any, ...]
) -> None:
    """Exclusive bounds and tuples (``prefixItems``) mean the same after conversion: the Draft 4 document
    accepts a value exactly when msgspec decodes it."""
    value = {"positive": positive, "below": below, "pair": list(pair)}
    try:
        msgspec.convert(value, Bounded)
        decodes = True
    except msgspec.ValidationError:
        decodes = False
    assert _bounded_draft4().is_valid(value) == decodes, value


def test_const_becomes_a_one_value_enum_and_booleans_become_objects() -> None:
    converted = to_draft4({"properties": {"k": {"const": "v"}, "any": True, "none": False}})
    assert converted["properties"] == {"k": {"enum": ["v"]}, "any": {}, "none": {"not": {}}}
    assert converted["$schema"] == DRAFT4_DIALECT


def test_both_bounds_keep_the_stricter_one() -> None:
    assert to_draft4({"minimum": 3, "exclusiveMinimum": 1}) == {"$schema": DRAFT4_DIALECT, "minimum": 3}
    assert to_draft4({"maximum": 3, "exclusiveMaximum": 3}) == {
        "$schema": DRAFT4_DIALECT,
        "maximum": 3,
        "exclusiveMaximum": True,
    }


@pytest.mark.parametrize(
    "schema",
    [
        {"unevaluatedProperties": False},
        {"properties": {"a": {"if": {"type": "string"}, "then": {"minLength": 1}}}},
        {"$ref": "#anchor"},
    ],
)
def test_what_draft4_cannot_say_is_an_error_not_a_silent_widening(schema: dict[str, Any]) -> None:
    with pytest.raises(Draft4Error):
        to_draft4(schema)


def test_a_draft4_id_has_no_fragment() -> None:
    with pytest.raises(Draft4Error):
        to_draft4({}, document_id="https://shoebox.dev/x.json#")


# --------------------------------------------------------------------------- the import-order trap
def test_generation_does_not_depend_on_import_order() -> None:
    """Every file generated in a fresh process equals the one generated after every module of the project
    evaluated its annotations first (typing caches equal Annotated forms: git log 4377609)."""
    assert import_order_differences() == []


TRAP_FIRST = """
import msgspec
from typing import Annotated

class Elsewhere(msgspec.Struct):  # evaluated at import: no postponed annotations here
    score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
"""
TRAP_OURS = """
from __future__ import annotations
import json
from typing import Annotated
import msgspec

class Ours(msgspec.Struct):
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)]

def generated():
    return {"ours.json": json.dumps(msgspec.json.schema(Ours), sort_keys=True)}
"""


def test_the_import_order_guard_sees_the_trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reproduction: a module whose equal Annotated form is evaluated first changes the other's schema
    (bounds 1 -> 1.0), and the guard reports the file."""
    (tmp_path / "trap_first.py").write_text(TRAP_FIRST, encoding="utf-8")
    (tmp_path / "trap_ours.py").write_text(TRAP_OURS, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    differing = import_order_differences(preload=["trap_first"], packages=(), generator="trap_ours:generated")
    assert differing == ["ours.json"]
