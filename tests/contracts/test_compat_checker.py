"""Unit tests of ``breaking_changes`` on schemas generated from small throwaway msgspec Structs.

Old and new Structs are built with ``msgspec.defstruct`` under the same names, as a real edit of a Struct
would be, so the generated ``$defs`` keep their names; a few tests rename structs on purpose.
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any, Literal

import msgspec
import pytest

from shared.events import catalogue as c
from shared.events.codec import CATALOGUE
from shared.events.schemas import DEFAULT_DIR, breaking_changes, event_schema


def schema(fields: list[Any], *, name: str = "Data", **nested: list[Any]) -> dict[str, Any]:
    """The JSON Schema of a struct ``name`` with ``fields``; ``nested`` defines structs it can use.

    A field type given as a string names a nested struct (``"File"``, ``"list[File]"``, ``"File | None"``).
    """
    structs: dict[str, type[msgspec.Struct]] = {
        n: msgspec.defstruct(n, f, kw_only=True) for n, f in nested.items()
    }

    def resolve(tp: Any) -> Any:
        if isinstance(tp, str):  # a type expression over the nested structs, written in this file
            return eval(tp, {}, structs)
        return tp

    resolved = [(f[0], resolve(f[1]), *f[2:]) for f in fields]
    return msgspec.json.schema(msgspec.defstruct(name, resolved, kw_only=True))


def test_identical_schemas_have_no_breaking_changes() -> None:
    s = schema([("a", int), ("b", "File")], File=[("bucket", str)])
    assert breaking_changes(s, copy.deepcopy(s)) == []


def test_removed_required_field_is_breaking() -> None:
    old = schema([("a", int), ("b", str)])
    new = schema([("a", int)])
    assert breaking_changes(old, new) == ["$.b: property removed"]


def test_removed_optional_field_is_breaking() -> None:
    old = schema([("a", int), ("note", str | None, None)])
    new = schema([("a", int)])
    assert breaking_changes(old, new) == ["$.note: property removed"]


def test_renamed_field_is_reported_as_removed_with_a_rename_hint() -> None:
    old = schema([("context", str)])
    new = schema([("trip_context", str)])
    changes = breaking_changes(old, new)
    assert changes[0] == "$.context: property removed (renamed to 'trip_context'?)"
    assert "$.trip_context: new required property without a default" in changes


def test_retyped_int_to_str_is_breaking() -> None:
    old = schema([("size", int)])
    new = schema([("size", str)])
    assert breaking_changes(old, new) == ["$.size: type changed incompatibly (integer -> string)"]


def test_retyped_str_to_struct_is_breaking() -> None:
    old = schema([("file", str)])
    new = schema([("file", "File")], File=[("key", str)])
    assert breaking_changes(old, new) == ["$.file: type changed incompatibly (string -> object File)"]


def test_int_widened_to_float_is_compatible() -> None:
    assert breaking_changes(schema([("n", int)]), schema([("n", float)])) == []


def test_float_narrowed_to_int_is_breaking() -> None:
    assert breaking_changes(schema([("n", float)]), schema([("n", int)])) == [
        "$.n: type changed incompatibly (number -> integer)"
    ]


def test_field_made_nullable_is_compatible_and_null_removed_is_breaking() -> None:
    plain = schema([("n", int)])
    nullable = schema([("n", int | None)])
    assert breaking_changes(plain, nullable) == []
    assert breaking_changes(nullable, plain) == ["$.n: type changed incompatibly (null -> integer)"]


def test_nested_struct_field_removed_is_reported_with_its_path() -> None:
    old = schema([("file", "File")], File=[("bucket", str), ("key", str)])
    new = schema([("file", "File")], File=[("key", str)])
    assert breaking_changes(old, new) == ["$.file.bucket: property removed"]


def test_nested_struct_field_retyped_inside_list_and_optional_is_reported_with_its_path() -> None:
    old = schema(
        [("items", "list[Item]"), ("gps", "Geo | None", None)],
        Item=[("size", int)],
        Geo=[("lat", float)],
    )
    new = schema(
        [("items", "list[Item]"), ("gps", "Geo | None", None)],
        Item=[("size", str)],
        Geo=[("lat", str)],
    )
    assert breaking_changes(old, new) == [
        "$.items[*].size: type changed incompatibly (integer -> string)",
        "$.gps.lat: type changed incompatibly (number -> string)",
    ]


def test_renaming_a_nested_struct_class_is_compatible() -> None:
    old = schema([("file", "File")], File=[("key", str)])
    new = schema([("file", "FileRef")], FileRef=[("key", str)])
    assert breaking_changes(old, new) == []


def test_enum_narrowed_is_breaking() -> None:
    old = schema([("kind", Literal["photo", "video"])])
    new = schema([("kind", Literal["photo"])])
    assert breaking_changes(old, new) == ['$.kind: enum narrowed (no longer allows "video")']


def test_enum_widened_is_compatible() -> None:
    old = schema([("kind", Literal["photo", "video"])])
    new = schema([("kind", Literal["photo", "video", "audio"])])
    assert breaking_changes(old, new) == []


def test_enum_widened_to_its_base_type_is_compatible_and_back_is_breaking() -> None:
    enum = schema([("kind", Literal["photo", "video"])])
    text = schema([("kind", str)])
    assert breaking_changes(enum, text) == []
    assert breaking_changes(text, enum) == [
        '$.kind: type changed incompatibly (string -> enum["photo", "video"])'
    ]


def test_optional_field_added_is_compatible() -> None:
    old = schema([("a", int)])
    new = schema([("a", int), ("note", str | None, None), ("tags", list[str], [])])
    assert breaking_changes(old, new) == []


def test_required_field_added_is_breaking() -> None:
    old = schema([("a", int)])
    new = schema([("a", int), ("b", str)])
    assert breaking_changes(old, new) == ["$.b: new required property without a default"]


def test_field_that_became_required_is_breaking() -> None:
    old = schema([("a", int), ("b", int, 0)])
    new = schema([("a", int), ("b", int)])
    assert breaking_changes(old, new) == ["$.b: property became required"]


def test_field_that_became_optional_is_compatible() -> None:
    old = schema([("a", int), ("b", int)])
    new = schema([("a", int), ("b", int, 0)])
    assert breaking_changes(old, new) == []


def test_changed_scalar_default_is_breaking() -> None:
    old = schema([("attempt", int, 1)])
    new = schema([("attempt", int, 0)])
    assert breaking_changes(old, new) == ["$.attempt: default changed (1 -> 0)"]


def test_tightened_constraint_is_breaking_and_loosened_is_compatible() -> None:
    short = schema([("name", Annotated[str, msgspec.Meta(max_length=10)])])
    long = schema([("name", Annotated[str, msgspec.Meta(max_length=100)])])
    assert breaking_changes(short, long) == []
    assert breaking_changes(long, short) == ["$.name: constraint tightened (maxLength 100 -> 10)"]


def test_forbidding_unknown_fields_is_breaking() -> None:
    old = msgspec.json.schema(msgspec.defstruct("Data", [("a", int)]))
    new = msgspec.json.schema(msgspec.defstruct("Data", [("a", int)], forbid_unknown_fields=True))
    assert breaking_changes(old, new) == ["$: no longer accepts additional properties"]


class Node(msgspec.Struct):
    name: str
    children: list[Node] = []


class NodeV2(msgspec.Struct):
    children: list[NodeV2] = []
    parent: NodeV2 | None = None


def test_recursive_struct_is_compared_without_looping() -> None:
    old, new = msgspec.json.schema(Node), msgspec.json.schema(NodeV2)
    assert breaking_changes(old, new) == ["$.name: property removed (renamed to 'parent'?)"]
    assert breaking_changes(new, new) == []


def test_every_change_is_reported_at_once() -> None:
    old = schema([("a", int), ("b", str), ("file", "File")], File=[("bucket", str)])
    new = schema([("a", str), ("c", int), ("file", "File")], File=[])
    changes = breaking_changes(old, new)
    assert changes == [
        "$.a: type changed incompatibly (integer -> string)",
        "$.b: property removed (renamed to 'c'?)",
        "$.file.bucket: property removed",
        "$.c: new required property without a default",
    ]


# --------------------------------------------------------------------------- on the real schemas
def _committed(type_name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DEFAULT_DIR / "events" / f"{type_name}.json").read_text())
    return result


def test_real_event_nested_field_removed_is_found_through_defs() -> None:
    old = _committed("shoebox.media.file.processed.v1")
    new = copy.deepcopy(old)
    del new["$defs"]["FileRef"]["properties"]["bucket"]
    new["$defs"]["FileRef"]["required"].remove("bucket")
    assert breaking_changes(old, new) == ["$.data.file.bucket: property removed"]


def test_real_event_reject_code_narrowed_is_breaking() -> None:
    old = _committed("shoebox.media.file.rejected.v1")
    new = copy.deepcopy(old)
    new["$defs"]["FileRejectedV1Data"]["properties"]["code"]["enum"].remove("too_long")
    assert breaking_changes(old, new) == ['$.data.code: enum narrowed (no longer allows "too_long")']


@pytest.mark.parametrize("cls", CATALOGUE.events, ids=lambda c: c.type_name())
def test_real_event_schema_is_compatible_with_itself(cls: Any) -> None:
    s = event_schema(cls)
    assert breaking_changes(s, copy.deepcopy(s)) == []


def test_file_rejected_v2_is_a_new_version_because_v1_readers_do_not_know_its_code() -> None:
    """A new reason code (``invalid_name``, issue 12) widens the enum: a consumer that validates with the
    v1 schema would refuse such a rejection, so the code is v2's, and v1 events are upcast to v2."""
    v1, v2 = event_schema(c.FileRejectedV1), event_schema(c.FileRejected)
    assert '$.data.code: enum narrowed (no longer allows "invalid_name")' in breaking_changes(v2, v1)
    assert [x for x in breaking_changes(v1, v2) if x.startswith("$.data")] == []  # v1's codes all in v2


def test_session_created_v2_is_not_a_compatible_evolution_of_v1() -> None:
    """Why v2 had to be a new version: it removes ``data.context`` and adds a required ``data.trip``."""
    v1, v2 = event_schema(c.SessionCreatedV1), event_schema(c.SessionCreatedV2)
    changes = breaking_changes(v1, v2)
    assert "$.data.context: property removed (renamed to 'trip'?)" in changes
    assert "$.data.trip: new required property without a default" in changes
