"""The event schemas as JSON Schema Draft 4, for the EventBridge schema registry.

The registry takes ``JSONSchemaDraft4`` (or OpenAPI 3) documents; ours are 2020-12. Each Draft 4 document
is converted from the 2020-12 one that :func:`.json_schema.event_schema` generates from the Structs, so the
two always describe the same types. Committed as ``schemas/events-draft4/<type>.json``; Terraform's
``modules/contracts`` registers one schema per file.

What Draft 4 lacks and how it is said instead:

- ``$defs`` -> ``definitions``, and every ``#/$defs/...`` reference rewritten;
- ``$id`` -> ``id`` (a plain URI, no fragment), ``$schema`` -> the draft-04 URI;
- ``const`` -> a one-value ``enum``;
- ``prefixItems`` -> ``items`` as an array, a trailing ``items`` -> ``additionalItems``;
- ``exclusiveMinimum``/``exclusiveMaximum`` numbers -> ``minimum``/``maximum`` with a boolean flag;
- ``required: []`` is left out (Draft 4 wants at least one name);
- a keyword Draft 4 cannot say at all (``unevaluatedProperties``, ``if``, ...) is an error, never dropped
  silently: the document would accept more than the 2020-12 one.
"""

from __future__ import annotations

from typing import Any

from ..envelope import Event
from .json_schema import JsonSchema, event_schema

DRAFT4_DIALECT = "http://json-schema.org/draft-04/schema#"
DRAFT4_SUBDIR = "events-draft4"
DRAFT4_BASE = "https://shoebox.dev/schemas/events-draft4/"

#: keywords whose value is a map of name -> subschema
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
#: keywords whose value is one subschema
_SCHEMA_VALUES = ("items", "additionalProperties", "additionalItems", "not")
#: keywords whose value is a list of subschemas
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
#: 2019-09/2020-12 keywords with no Draft 4 equivalent: converting would silently widen the schema
_UNSUPPORTED = frozenset(
    {
        "unevaluatedProperties",
        "unevaluatedItems",
        "dependentSchemas",
        "dependentRequired",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "if",
        "then",
        "else",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
    }
)
#: the numeric bounds, converted together (:func:`_bound`)
_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
#: annotations Draft 4 does not know; left out so no registry or tool trips on them
_DROPPED = frozenset({"$comment", "examples", "contentEncoding", "contentMediaType", "deprecated"})


class Draft4Error(ValueError):
    """A 2020-12 schema uses something Draft 4 cannot express."""


def draft4_filename(cls: type[Event[Any]]) -> str:
    """``events-draft4/<type>.json``, relative to the schemas directory."""
    return f"{DRAFT4_SUBDIR}/{cls.type_name()}.json"


def draft4_id(cls: type[Event[Any]]) -> str:
    """The Draft 4 document's ``id``: a plain URI (Draft 4 resolves refs against it; no fragment)."""
    return f"{DRAFT4_BASE}{cls.type_name()}.json"


def to_draft4(schema: JsonSchema, *, document_id: str | None = None) -> JsonSchema:
    """The Draft 4 form of a 2020-12 ``schema`` (the root document: ``$schema``/``$id`` replaced)."""
    out = _convert(schema, "#")
    out["$schema"] = DRAFT4_DIALECT
    out.pop("id", None)
    if document_id is not None:
        if "#" in document_id:
            raise Draft4Error(f"a Draft 4 id must not carry a fragment: {document_id}")
        out["id"] = document_id
    return out


def event_schema_draft4(cls: type[Event[Any]]) -> JsonSchema:
    """The Draft 4 document of one event version, converted from its 2020-12 one."""
    return to_draft4(event_schema(cls), document_id=draft4_id(cls))


def _ref(ref: str) -> str:
    if ref.startswith("#/$defs/"):
        return "#/definitions/" + ref.removeprefix("#/$defs/")
    if ref.startswith("#/") or not ref.startswith("#"):
        return ref
    raise Draft4Error(f"$ref {ref!r}: anchors are not Draft 4")


def _convert(node: JsonSchema | bool, where: str) -> JsonSchema:
    """Convert one (sub)schema; ``where`` says where it is, for errors."""
    if node is True:  # Draft 4 has no boolean schemas: "anything" and "nothing" as objects
        return {}
    if node is False:
        return {"not": {}}
    if not isinstance(node, dict):
        raise Draft4Error(f"{where}: a schema must be an object in Draft 4 (got {node!r})")
    unsupported = sorted(_UNSUPPORTED & node.keys())
    if unsupported:
        raise Draft4Error(f"{where}: Draft 4 cannot express {unsupported}")
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED or key in ("$schema", "$id"):
            continue
        if key == "$ref":
            out["$ref"] = _ref(value)
        elif key in _SCHEMA_MAPS:
            target = "definitions" if key == "$defs" else key
            out[target] = {k: _convert(v, f"{where}/{key}/{k}") for k, v in value.items()}
        elif key == "prefixItems":
            continue  # with ``items``, below
        elif key in ("additionalProperties", "additionalItems") and isinstance(value, bool):
            out[key] = value  # Draft 4 takes a boolean here
        elif key in _SCHEMA_VALUES and key != "items":
            out[key] = _convert(value, f"{where}/{key}")
        elif key in _SCHEMA_LISTS:
            out[key] = [_convert(v, f"{where}/{key}/{i}") for i, v in enumerate(value)]
        elif key == "items":
            continue
        elif key == "const":
            out["enum"] = [value]
        elif key in _BOUNDS:
            continue  # below, together
        elif key == "required":
            if value:
                out["required"] = list(value)
        else:
            out[key] = value  # type, enum, format, bounds, title, description, default, x-...
    _items(out, node, where)
    _bound(out, node, "minimum", "exclusiveMinimum", where)
    _bound(out, node, "maximum", "exclusiveMaximum", where)
    return out


def _bound(out: JsonSchema, node: JsonSchema, inclusive: str, exclusive: str, where: str) -> None:
    """2020-12 ``exclusiveMinimum: n`` is Draft 4 ``minimum: n, exclusiveMinimum: true``; with both an
    inclusive and an exclusive bound (Draft 4 has one bound and a flag) the stricter one stays."""
    low, high = node.get(inclusive), node.get(exclusive)
    if isinstance(high, bool):
        raise Draft4Error(f"{where}: {exclusive} is already a Draft 4 boolean")
    if high is None:
        if low is not None:
            out[inclusive] = low
        return
    lower = inclusive == "minimum"
    if low is not None and (low > high if lower else low < high):
        out[inclusive] = low  # the inclusive bound is the stricter one
        return
    out[inclusive] = high
    out[exclusive] = True


def _items(out: JsonSchema, node: JsonSchema, where: str) -> None:
    prefix = node.get("prefixItems")
    items = node.get("items")
    if prefix is not None:
        out["items"] = [_convert(v, f"{where}/prefixItems/{i}") for i, v in enumerate(prefix)]
        if items is not None:
            out["additionalItems"] = items if isinstance(items, bool) else _convert(items, f"{where}/items")
    elif items is False:
        out["maxItems"] = 0
    elif items is not None and items is not True:
        out["items"] = _convert(items, f"{where}/items")
