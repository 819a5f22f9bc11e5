"""The AsyncAPI 3.0.0 document of every event family on the bus, committed as ``schemas/asyncapi.json``.

The server is the custom EventBridge bus, each event *family* is a channel whose address is the
EventBridge ``detail-type`` (the family name), each version is a message of that channel
(``contentType: application/cloudevents+json``, the payload is the whole structured-mode CloudEvent), and
each family has one ``send`` operation naming the producer (:data:`PRODUCERS`). Message payloads
reference the per-version files with a plain ``$ref`` (the AsyncAPI default schema format) rather than a
Multi Format Schema Object with a 2020-12 ``schemaFormat``, which the common AsyncAPI parsers reject; the
schemas only use keywords that both dialects read the same way.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path
from typing import Any

from ..codec import CATALOGUE, Catalogue
from ..envelope import Event
from .json_schema import event_description, schema_filename

ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/cloudevents+json"

REPO_ROOT = Path(__file__).resolve().parents[3]

#: Who emits each event family (../shared/docs/architecture.md, "Event catalogue"). Every family in the
#: catalogue needs an entry: the AsyncAPI ``send`` operation of the family names it.
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
    "shoebox.selection.initialized": "api",
    "shoebox.selection.picks.edited": "api",
    "shoebox.enhancement.requested": "api",
    "shoebox.enhancement.initialized": "api",
    "shoebox.enhancement.cancelled": "api",
    "shoebox.enhancement.item.cancelled": "api",
    "shoebox.enhancement.item.skipped": "api",
    "shoebox.photo.enhance.requested": "api",
    "shoebox.video.enhance.requested": "api",
    "shoebox.photo.enhance.phase": "enhance",
    "shoebox.video.enhance.phase": "video",
    "shoebox.photo.enhanced": "enhance",
    "shoebox.video.enhanced": "video",
    "shoebox.photo.enhance.failed": "enhance",
    "shoebox.video.enhance.failed": "video",
    "shoebox.enhancement.feedback.requested": "api",
    "shoebox.enhancement.feedback.completed": "enhance",
    "shoebox.enhancement.completed": "api/saga",
    "shoebox.message.failed": "runtime",
    "shoebox.upload.received": "api",
    "shoebox.media.file.unchanged": "media_process",
    "shoebox.upload.multipart.started": "api",
}


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
        raise ValueError(
            f"no producer for {missing}: add the families to shared.events.schemas.asyncapi.PRODUCERS"
        )
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
                "summary": event_description(cls).split("\n\n", 1)[0],
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
