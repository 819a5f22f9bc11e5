"""Whether a new JSON Schema of a published event version is a compatible evolution of the committed one.

:func:`breaking_changes` compares two schemas of the same event version. The rule it enforces: a published
version never changes incompatibly (docs: architecture "Events"), i.e. every event valid under the old
schema is still valid under the new one (the log keeps old events forever) and nothing a reader relies on
disappears. Breaking: a removed (or renamed) property, a type/``$ref``/enum change that rejects values the
old schema accepted (enum narrowing included), a tightened constraint, a property that became required,
a new required property without a default, a changed scalar default. Not breaking: a new optional
property, enum or type widening (a new enum value, ``integer`` -> ``number``, a value that became
nullable), loosened constraints, changed titles and descriptions.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from .json_schema import JsonSchema

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf", "contentEncoding")
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
    }
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class _Alt:
    """One alternative of a (possibly union) schema, with ``$ref`` resolved."""

    schema: JsonSchema
    ref: str | None  # the last $ref followed to get here (cycle detection)

    @property
    def kind(self) -> str:
        s = self.schema
        if "enum" in s or "const" in s:
            return "enum"
        t = s.get("type")
        if isinstance(t, str):
            return t
        if "properties" in s or "additionalProperties" in s or "required" in s:
            return "object"
        if "items" in s or "prefixItems" in s:
            return "array"
        if all(k in _ANNOTATIONS or k.startswith("x-") for k in s):
            return "any"
        return "other"

    @property
    def values(self) -> list[Any]:
        if "const" in self.schema:
            return [self.schema["const"]]
        enum = self.schema.get("enum", [])
        return list(enum) if isinstance(enum, list) else []

    def describe(self) -> str:
        kind = self.kind
        if kind == "enum":
            return "enum" + json.dumps(self.values)
        if kind == "object" and isinstance(self.schema.get("title"), str):
            return f"object {self.schema['title']}"
        if kind == "array":
            return "array"
        if kind == "other":
            return json.dumps(self.schema, sort_keys=True)
        return kind


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _same_value(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    return _json_type(a) == _json_type(b) and a == b


def _kinds_compatible(old: str, new: str) -> bool:
    return old == new or (old == "integer" and new == "number")


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if _IDENT.match(name) else f"{path}[{json.dumps(name)}]"


class _Comparer:
    def __init__(self, old_root: JsonSchema, new_root: JsonSchema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self._stack: set[tuple[str, str]] = set()

    # ---- resolution
    @staticmethod
    def _resolve(root: JsonSchema, node: Any) -> tuple[JsonSchema, str | None]:
        if node is True or not isinstance(node, dict):
            return ({} if node is True or node is None else {"not": {}}), None
        ref: str | None = None
        seen: set[str] = set()
        while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#") and node["$ref"] not in seen:
            ref = node["$ref"]
            seen.add(ref)
            target: Any = root
            for part in ref[1:].split("/")[1:] if ref != "#" else []:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    return node, ref  # dangling: compare it as an opaque schema
                target = target[part]
            if not isinstance(target, dict):
                return node, ref
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **siblings}
        return node, ref

    def _alternatives(self, root: JsonSchema, node: Any) -> Iterator[_Alt]:
        schema, ref = self._resolve(root, node)
        union = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(union, list):
            for alt in union:
                yield from self._alternatives(root, alt)
            return
        types = schema.get("type")
        if isinstance(types, list):
            rest = {k: v for k, v in schema.items() if k != "type"}
            for t in types:
                yield _Alt({**rest, "type": t}, ref)
            return
        yield _Alt(schema, ref)

    # ---- comparison
    def compare(self, old_node: Any, new_node: Any, path: str, out: list[str]) -> None:
        old_alts = list(self._alternatives(self.old_root, old_node))
        new_alts = list(self._alternatives(self.new_root, new_node))
        if any(n.kind == "any" for n in new_alts):
            return
        for old in old_alts:
            kind = old.kind
            if kind == "enum":
                self._compare_enum(old, new_alts, path, out)
                continue
            candidates = [n for n in new_alts if _kinds_compatible(kind, n.kind)]
            if kind == "other":
                candidates = [n for n in new_alts if n.schema == old.schema]
                if candidates:
                    continue
            if not candidates:
                out.append(f"{path}: type changed incompatibly ({old.describe()} -> {_describe(new_alts)})")
                continue
            best: list[str] | None = None
            for new in candidates:
                found: list[str] = []
                self._compare_same_kind(old, new, path, found)
                if best is None or len(found) < len(best):
                    best = found
                if not found:
                    break
            out.extend(best or [])

    def _compare_enum(self, old: _Alt, new_alts: list[_Alt], path: str, out: list[str]) -> None:
        def allowed(value: Any) -> bool:
            for new in new_alts:
                if new.kind == "enum":
                    if any(_same_value(value, v) for v in new.values):
                        return True
                elif _kinds_compatible(_json_type(value), new.kind) and not _violates_bounds(
                    new.schema, value
                ):
                    return True
            return False

        lost = [v for v in old.values if not allowed(v)]
        if not lost:
            return
        if any(n.kind == "enum" for n in new_alts):
            out.append(f"{path}: enum narrowed (no longer allows {', '.join(json.dumps(v) for v in lost)})")
        else:
            out.append(f"{path}: type changed incompatibly ({old.describe()} -> {_describe(new_alts)})")

    @staticmethod
    def _tightened(old: JsonSchema, new: JsonSchema) -> list[str]:
        """The constraints of ``new`` that are stricter than those of ``old``."""
        found: list[str] = []
        for key in _LOWER_BOUNDS:
            o, n = old.get(key), new.get(key)
            if n is not None and (o is None or n > o):
                found.append(f"{key} {json.dumps(o)} -> {json.dumps(n)}")
        for key in _UPPER_BOUNDS:
            o, n = old.get(key), new.get(key)
            if n is not None and (o is None or n < o):
                found.append(f"{key} {json.dumps(o)} -> {json.dumps(n)}")
        for key in _EXACT:
            o, n = old.get(key), new.get(key)
            if n is not None and n != o:
                found.append(f"{key} {json.dumps(o)} -> {json.dumps(n)}")
        return found

    def _compare_same_kind(self, old: _Alt, new: _Alt, path: str, out: list[str]) -> None:
        out.extend(f"{path}: constraint tightened ({t})" for t in self._tightened(old.schema, new.schema))
        key = (old.ref or "", new.ref or "")
        if old.ref and new.ref:
            if key in self._stack:
                return  # a recursive type: already being compared further up
            self._stack.add(key)
        try:
            if old.kind == "object":
                self._compare_objects(old.schema, new.schema, path, out)
            elif old.kind == "array":
                self._compare_arrays(old.schema, new.schema, path, out)
        finally:
            if old.ref and new.ref:
                self._stack.discard(key)

    def _compare_objects(self, old: JsonSchema, new: JsonSchema, path: str, out: list[str]) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        added = [p for p in new_props if p not in old_props]
        for name, old_prop in old_props.items():
            child = _child(path, name)
            if name not in new_props:
                hint = f" (renamed to {', '.join(repr(a) for a in added)}?)" if added else ""
                out.append(f"{child}: property removed{hint}")
                continue
            new_prop = new_props[name]
            if name in new_required and name not in old_required:
                out.append(f"{child}: property became required")
            self.compare(old_prop, new_prop, child, out)
            old_default = self._resolve(self.old_root, old_prop)[0].get("default", _MISSING)
            new_default = self._resolve(self.new_root, new_prop)[0].get("default", _MISSING)
            if (
                name not in new_required
                and old_default is not _MISSING
                and _is_scalar(old_default)
                and (new_default is _MISSING or not _same_value(old_default, new_default))
            ):
                shown = "none" if new_default is _MISSING else json.dumps(new_default)
                out.append(f"{child}: default changed ({json.dumps(old_default)} -> {shown})")
        for name in added:
            new_prop = self._resolve(self.new_root, new_props[name])[0]
            if name in new_required and "default" not in new_prop:
                out.append(f"{_child(path, name)}: new required property without a default")
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            out.append(f"{path}: no longer accepts additional properties")
        elif isinstance(new_extra, dict) and new_extra and old_extra is not False:
            self.compare({} if old_extra is True else old_extra, new_extra, f"{path}.*", out)

    def _compare_arrays(self, old: JsonSchema, new: JsonSchema, path: str, out: list[str]) -> None:
        old_prefix: list[Any] = old.get("prefixItems", [])
        new_prefix: list[Any] = new.get("prefixItems", [])
        for i, (o, n) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.compare(o, n, f"{path}[{i}]", out)
        if len(new_prefix) > len(old_prefix):
            for i in range(len(old_prefix), len(new_prefix)):
                self.compare(old.get("items", True), new_prefix[i], f"{path}[{i}]", out)
        old_items = old.get("items", True)
        new_items = new.get("items", True)
        if new_items is not True:
            self.compare(old_items, new_items, f"{path}[*]", out)


class _Missing:
    pass


_MISSING: Any = _Missing()


def _violates_bounds(schema: JsonSchema, value: Any) -> bool:
    """Whether a (scalar enum) value falls outside the numeric or length bounds of ``schema``."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        size: Any = len(value)
        lower_keys, upper_keys, excl_lower, excl_upper = ("minLength",), ("maxLength",), None, None
    elif isinstance(value, int | float):
        size = value
        lower_keys, upper_keys = ("minimum",), ("maximum",)
        excl_lower, excl_upper = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    else:
        return False
    lower = [schema[k] for k in lower_keys if isinstance(schema.get(k), int | float)]
    upper = [schema[k] for k in upper_keys if isinstance(schema.get(k), int | float)]
    return (
        any(size < b for b in lower)
        or any(size > b for b in upper)
        or (isinstance(excl_lower, int | float) and size <= excl_lower)
        or (isinstance(excl_upper, int | float) and size >= excl_upper)
    )


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _describe(alts: Iterable[_Alt]) -> str:
    return "|".join(a.describe() for a in alts) or "nothing"


def breaking_changes(old_schema: JsonSchema, new_schema: JsonSchema) -> list[str]:
    """Every incompatible difference between two JSON Schemas of the same event version.

    Each entry starts with the JSON path of the change (``$.data.file.bucket: property removed``).
    ``$ref``s into ``$defs`` are followed, so nested structs are compared field by field (renaming a
    struct is not a change; changing its fields is). An empty list means ``new_schema`` is a compatible
    evolution of ``old_schema``; see the module docstring for the rules.
    """
    out: list[str] = []
    _Comparer(old_schema, new_schema).compare(old_schema, new_schema, "$", out)
    return list(dict.fromkeys(out))
