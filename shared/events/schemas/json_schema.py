"""One JSON Schema (draft 2020-12) per event *version*, generated from the Structs in
``shared.events.catalogue`` (through ``shared.events.codec.CATALOGUE``).

Committed as ``schemas/events/<type>.json``, e.g. ``schemas/events/shoebox.media.file.processed.v1.json``.
Its ``$id`` is the event's ``dataschema`` URI. Old versions stay: events of every published version are
still in the log.
"""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from ..codec import CATALOGUE, Catalogue
from ..envelope import Event

JsonSchema = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EVENTS_SUBDIR = "events"

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


def event_description(cls: type[Event[Any]]) -> str:
    """The schema's ``description``; its first paragraph is the AsyncAPI message ``summary``."""
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
        "description": event_description(cls),
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


#: the selection results file's schema, beside the events' (``schemas/selection-results.schema.json``)
SELECTION_RESULTS_FILE = "selection-results.schema.json"


def selection_results_schema() -> JsonSchema:
    """The JSON Schema (draft 2020-12) of the selection results file (``selection_results.SelectionResults``):
    other teams read it from ``selection.completed``'s ``results_key``, so it is published like an event."""
    from ..selection_results import SelectionResults  # the results' module imports the catalogue

    (root_ref,), defs = msgspec.json.schema_components([SelectionResults], ref_template="#/$defs/{name}")
    root: JsonSchema = dict(defs.pop(root_ref["$ref"].rsplit("/", 1)[-1]))
    root.pop("title", None)
    schema: JsonSchema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "https://shoebox.dev/schemas/selection-results.schema.json",
        "title": "Shoebox selection results",
        **root,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def event_schemas(catalogue: Catalogue = CATALOGUE) -> dict[str, JsonSchema]:
    """``{type name: schema}`` for every event version in the catalogue, old versions included."""
    return {cls.type_name(): event_schema(cls) for cls in catalogue.events}
