"""The published event contracts as documents: JSON Schema per event version, one AsyncAPI document.

Everything here is generated from the Structs in ``shared.events.catalogue`` (through
``shared.events.codec.CATALOGUE``) and committed under ``schemas/``:

- ``schemas/events/<type>.json``: one JSON Schema (draft 2020-12) per event *version*, e.g.
  ``schemas/events/shoebox.media.file.processed.v1.json``. Its ``$id`` is the event's ``dataschema``
  URI. Old versions stay: events of every published version are still in the log.
- ``schemas/asyncapi.json``: an AsyncAPI 3.0.0 document. The server is the custom EventBridge bus,
  each event *family* is a channel whose address is the EventBridge ``detail-type`` (the family name),
  each version is a message of that channel (``contentType: application/cloudevents+json``, the payload
  is the whole structured-mode CloudEvent), and each family has one ``send`` operation naming the
  producer (:data:`PRODUCERS`). Message payloads reference the per-version files with a plain ``$ref``
  (the AsyncAPI default schema format) rather than a Multi Format Schema Object with a 2020-12
  ``schemaFormat``, which the common AsyncAPI parsers reject; the schemas only use keywords that both
  dialects read the same way.

:func:`breaking_changes` compares two schemas of the same event version. The rule it enforces: a published
version never changes incompatibly (docs: architecture "Events"), i.e. every event valid under the old
schema is still valid under the new one (the log keeps old events forever) and nothing a reader relies on
disappears. Breaking: a removed (or renamed) property, a type/``$ref``/enum change that rejects values the
old schema accepted (enum narrowing included), a tightened constraint, a property that became required,
a new required property without a default, a changed scalar default. Not breaking: a new optional
property, enum or type widening (a new enum value, ``integer`` -> ``number``, a value that became
nullable), loosened constraints, changed titles and descriptions.

CLI (``task schemas`` runs ``write``)::

    python -m shared.events.schemas write [--force] [--dir DIR]   # regenerate every file
    python -m shared.events.schemas check [--dir DIR]             # exit 1 when committed files drift

``write`` refuses (exit 1, listing the breaking changes) when a committed schema would change
incompatibly or a committed version would disappear, unless ``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import inspect
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from shared.events.codec import CATALOGUE, Catalogue
from shared.events.envelope import Event

JsonSchema = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/cloudevents+json"
EVENTS_SUBDIR = "events"
ASYNCAPI_FILE = "asyncapi.json"

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "schemas"

#: Who emits each event family (docs/architecture.md, "Event catalogue"). Every family in the catalogue
#: needs an entry: the AsyncAPI ``send`` operation of the family names it.
PRODUCERS: dict[str, str] = {
    "shoebox.session.created": "api",
    "shoebox.triage.initialized": "api",
    "shoebox.triage.expected.changed": "api",
    "shoebox.upload.finalized": "api",
    "shoebox.media.file.processed": "media_process",
    "shoebox.media.file.rejected": "media_process",
    "shoebox.media.file.duplicate": "media_process",
    "shoebox.media.file.deleted": "api",
    "shoebox.triage.requested": "saga",
    "shoebox.triage.completed": "selection",
    "shoebox.triage.failed": "selection",
    "shoebox.triage.confirmed": "api",
    "shoebox.selection.requested": "api/saga",
    "shoebox.selection.completed": "selection",
    "shoebox.selection.failed": "selection",
    "shoebox.enhancement.requested": "api",
    "shoebox.photo.enhance.requested": "saga",
    "shoebox.video.enhance.requested": "saga",
    "shoebox.photo.enhance.phase": "enhance",
    "shoebox.photo.enhanced": "enhance",
    "shoebox.video.enhanced": "video",
    "shoebox.photo.enhance.failed": "enhance",
    "shoebox.video.enhance.failed": "video",
    "shoebox.enhancement.feedback.requested": "api",
    "shoebox.enhancement.completed": "saga",
    "shoebox.message.failed": "runtime",
}


# --------------------------------------------------------------------------- JSON Schema per version
#: Descriptions of the envelope attributes (msgspec has no per-field docs without ``Meta`` annotations).
ENVELOPE_DOCS: dict[str, str] = {
    "type": "CloudEvents `type`: the event type with its version.",
    "specversion": "CloudEvents spec version.",
    "id": "Event id; `source` + `id` is unique across the system (the idempotency key).",
    "source": "CloudEvents `source`: the service (or saga) that produced the event.",
    "subject": "CloudEvents `subject`: what the event is about within the session (e.g. an S3 key).",
    "time": "When it happened: an RFC 3339 timestamp; producers write UTC with an offset.",
    "datacontenttype": "Content type of `data`.",
    "dataschema": "The `$id` of this JSON Schema.",
    "sessionid": "Extension: the upload session (the event stream) the event belongs to.",
    "sequence": "Extension: position in the session's stream, assigned on append (increasing, gaps allowed).",
    "correlationid": "Extension: id of the request that started the chain of events.",
    "causationid": "Extension: id of the event that caused this one.",
    "traceparent": "Extension: W3C trace context of the producer.",
    "data": "The payload.",
}


def schema_filename(cls: type[Event[Any]]) -> str:
    """``events/<type>.json``, relative to the schemas directory."""
    return f"{EVENTS_SUBDIR}/{cls.type_name()}.json"


def _doc(obj: type) -> str | None:
    doc = obj.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def _description(cls: type[Event[Any]]) -> str:
    head = f"`{cls.type_name()}`: version {cls.version()} of the `{cls.family()}` event"
    parts = [head + " (a CloudEvents 1.0 envelope around a typed `data` payload)."]
    for doc in (_doc(cls), _doc(cls.payload_type())):
        if doc and doc not in parts:
            parts.append(doc)
    return "\n\n".join(parts)


def event_schema(cls: type[Event[Any]]) -> JsonSchema:
    """The JSON Schema (draft 2020-12) of one event version, the envelope and its payload."""
    (root_ref,), defs = msgspec.json.schema_components([cls], ref_template="#/$defs/{name}")
    ref = root_ref["$ref"]
    name = ref.rsplit("/", 1)[-1]
    # Inline the root struct (consumers read the top level directly) unless something refers back to it.
    inline = ref not in _refs(defs)
    root: JsonSchema = dict(defs.pop(name)) if inline else {"$ref": ref}
    root.pop("title", None)
    root.pop("description", None)
    properties = root.get("properties", {})
    for field, doc in ENVELOPE_DOCS.items():
        if isinstance(properties.get(field), dict):
            properties[field] = {"description": doc, **properties[field]}
    schema: JsonSchema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": cls.schema_uri(),
        "title": cls.type_name(),
        "description": _description(cls),
        "x-shoebox-family": cls.family(),
        "x-shoebox-version": cls.version(),
        **root,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def _refs(node: Any) -> set[str]:
    """Every ``$ref`` value anywhere in ``node``."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        found = set()
        for value in node:
            found |= _refs(value)
        return found
    return set()


def event_schemas(catalogue: Catalogue = CATALOGUE) -> dict[str, JsonSchema]:
    """``{type name: schema}`` for every event version in the catalogue, old versions included."""
    return {cls.type_name(): event_schema(cls) for cls in catalogue.events}


# --------------------------------------------------------------------------- AsyncAPI
def project_version() -> str:
    """The version in pyproject.toml (the installed distribution's when the repo is not around)."""
    pyproject = REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as f:
            version = tomllib.load(f).get("project", {}).get("version")
        if isinstance(version, str):
            return version
    return importlib.metadata.version("shoebox")


def _ident(name: str) -> str:
    """An identifier-safe id for channels, messages and operations (code generators like those)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _families(catalogue: Catalogue) -> dict[str, list[type[Event[Any]]]]:
    families: dict[str, list[type[Event[Any]]]] = {}
    for cls in catalogue.events:
        families.setdefault(cls.family(), []).append(cls)
    for versions in families.values():
        versions.sort(key=lambda c: c.version())
    return families


def asyncapi_document(catalogue: Catalogue = CATALOGUE, version: str | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of every event family on the bus."""
    families = _families(catalogue)
    missing = sorted(set(families) - set(PRODUCERS))
    if missing:
        raise ValueError(f"no producer for {missing}: add the families to shared.events.schemas.PRODUCERS")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for family, versions in families.items():
        channel_id = _ident(family)
        current = catalogue.current[family]
        producer = PRODUCERS[family]
        channel_messages: dict[str, Any] = {}
        for cls in versions:
            message_id = _ident(cls.type_name())
            message: dict[str, Any] = {
                "name": cls.type_name(),
                "title": f"{family} v{cls.version()}",
                "summary": _description(cls).split("\n\n", 1)[0],
                "contentType": CONTENT_TYPE,
                "payload": {"$ref": f"./{schema_filename(cls)}"},
                "correlationId": {
                    "description": "Every event caused by one request carries that request's correlation id.",
                    "location": "$message.payload#/correlationid",
                },
            }
            if cls is not current:
                message["description"] = (
                    f"Superseded by `{current.type_name()}`. Still in the event log; readers upcast it to "
                    "the current version on read, producers no longer send it."
                )
            messages[message_id] = message
            channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": family,
            "title": family,
            "description": (
                f"Every version of `{family}` on the bus. EventBridge `detail-type`: `{family}`, `source`: "
                "the event's `source`, `detail`: the whole event."
            ),
            "servers": [{"$ref": "#/servers/eventbridge"}],
            "messages": channel_messages,
            "x-eventbridge-detail-type": family,
        }
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "title": f"{producer} sends {family}",
            "description": (
                f"Produced by `{producer}`. Services never put events on the bus themselves: the event is "
                "appended to the event log and the outbox relay publishes it. Only the current version "
                f"(`{current.type_name()}`) is sent; older versions exist in the log."
            ),
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{_ident(current.type_name())}"}],
            "x-shoebox-producer": producer,
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:shoebox:events",
        "info": {
            "title": "Shoebox events",
            "version": version or project_version(),
            "description": (
                "Every event type Shoebox publishes, each version with its JSON Schema. Events are "
                "CloudEvents 1.0 in structured mode. A published version never changes incompatibly; a "
                "breaking change is a new version, and readers upcast old versions."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "eventbridge": {
                "host": "events.{region}.amazonaws.com",
                "protocol": "https",
                "title": "Shoebox EventBridge bus",
                "description": (
                    "The custom EventBridge bus `<prefix>-bus` (default prefix `shoebox`). Locally the "
                    "embedded AWS emulator serves the same bus."
                ),
                "variables": {"region": {"default": "us-east-1"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


# --------------------------------------------------------------------------- files
def dumps(document: Any) -> str:
    """Pretty-printed, sorted keys, trailing newline: byte-for-byte deterministic."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_files(catalogue: Catalogue = CATALOGUE) -> dict[str, str]:
    """``{path relative to the schemas directory: content}`` of every generated file."""
    files = {schema_filename(cls): dumps(event_schema(cls)) for cls in catalogue.events}
    files[ASYNCAPI_FILE] = dumps(asyncapi_document(catalogue))
    return files


@dataclasses.dataclass(frozen=True)
class Difference:
    """One file whose committed content is not what the code generates."""

    path: str  # relative to the schemas directory
    status: str  # "missing" | "changed" | "stale"
    breaking: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.status == "missing":
            what = "not committed yet (a new event version or document)"
        elif self.status == "stale":
            what = "committed, but no event class in the catalogue generates it (a published version removed)"
        elif self.breaking:
            what = "differs from the code: BREAKING"
        else:
            what = "differs from the code (compatible)"
        lines = [f"{self.path}: {what}"]
        lines += [f"    {b}" for b in self.breaking]
        return "\n".join(lines)


def differences(
    directory: Path = DEFAULT_DIR,
    catalogue: Catalogue = CATALOGUE,
    *,
    expected: dict[str, str] | None = None,
) -> list[Difference]:
    """Every committed file in ``directory`` that is missing, changed or stale, with breaking changes;
    against ``expected`` when the caller has generated the files already."""
    expected = generated_files(catalogue) if expected is None else expected
    out: list[Difference] = []
    for rel, content in expected.items():
        path = directory / rel
        if not path.is_file():
            out.append(Difference(rel, "missing"))
            continue
        committed = path.read_text(encoding="utf-8")
        if committed == content:
            continue
        breaking: list[str] = []
        if rel.startswith(f"{EVENTS_SUBDIR}/"):
            try:
                breaking = breaking_changes(json.loads(committed), json.loads(content))
            except json.JSONDecodeError as exc:
                breaking = [f"the committed file is not JSON: {exc}"]
        out.append(Difference(rel, "changed", tuple(breaking)))
    events_dir = directory / EVENTS_SUBDIR
    if events_dir.is_dir():
        for path in sorted(events_dir.glob("*.json")):
            rel = f"{EVENTS_SUBDIR}/{path.name}"
            if rel not in expected:
                out.append(Difference(rel, "stale", ("$: the published event version was removed",)))
    return out


def write(directory: Path = DEFAULT_DIR, *, force: bool = False, catalogue: Catalogue = CATALOGUE) -> int:
    """Regenerate every file; refuse (return 1, write nothing) on a breaking change unless ``force``."""
    expected = generated_files(catalogue)
    diffs = differences(directory, catalogue, expected=expected)
    breaking = [d for d in diffs if d.breaking]
    if breaking and not force:
        print("refusing to write: a published event version would change incompatibly.", file=sys.stderr)
        for d in breaking:
            print(d.describe(), file=sys.stderr)
        print(
            "Publish a new version instead (a new ...V<n+1> class plus an upcaster), or pass --force "
            "if the version was never published.",
            file=sys.stderr,
        )
        return 1
    for d in diffs:
        path = directory / d.path
        if d.status == "stale":
            path.unlink()
            print(f"removed {d.path}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected[d.path], encoding="utf-8")
        print(f"{'wrote' if d.status == 'missing' else 'updated'} {d.path}")
    if not diffs:
        print(f"{len(expected)} files up to date in {directory}")
    return 0


def check(directory: Path = DEFAULT_DIR, *, catalogue: Catalogue = CATALOGUE) -> int:
    """Return 1 (and say which files, and whether it is breaking) when committed files drift from code."""
    expected = generated_files(catalogue)
    diffs = differences(directory, catalogue, expected=expected)
    if not diffs:
        print(f"{len(expected)} files match the code in {directory}")
        return 0
    for d in diffs:
        print(d.describe())
    print("Run `task schemas` (python -m shared.events.schemas write) and commit the result.")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.events.schemas",
        description="Generate and check the committed event schemas and AsyncAPI document.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="regenerate every file (refuses breaking changes unless --force)")
    w.add_argument("--force", action="store_true", help="write even if a committed version breaks")
    c = sub.add_parser("check", help="exit 1 if the committed files differ from the code")
    for p in (w, c):
        p.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"schemas directory ({DEFAULT_DIR})")
    args = parser.parse_args(argv)
    if args.command == "write":
        return write(args.dir, force=args.force)
    return check(args.dir)


# --------------------------------------------------------------------------- compatibility
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


if __name__ == "__main__":
    raise SystemExit(main())
