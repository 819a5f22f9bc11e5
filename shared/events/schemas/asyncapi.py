"""The AsyncAPI 3.0.0 document of every event family on the bus, committed as ``schemas/asyncapi.json``.

The server is the custom EventBridge bus, each event *family* is a channel whose address is the
EventBridge ``detail-type`` (the family name), each version is a message of that channel
(``contentType: application/cloudevents+json``, the payload is the whole structured-mode CloudEvent), and
each family has one ``send`` operation naming the producer (:data:`PRODUCERS`).

Bindings: EventBridge has no AsyncAPI binding, so each channel carries an ``x-eventbridge`` extension (the
bus name pattern, the ``source`` values the family is published with, ``detail-type`` = the family, and the
rule pattern that selects it); each send operation an ``sqs`` binding (0.2.0) describing the subscriber's
own queue and its DLQ, which a rule of theirs on the bus feeds (docs/consuming-events.md). Message payloads
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
from ..messages import SOURCE_PREFIX
from ..version import CONTRACTS_VERSION
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


#: the services that publish (their events' ``source`` is ``shoebox/<service>``: the relay puts every event
#: on the bus with the event's own ``source``); tests/contracts/test_asyncapi_bindings.py holds it to the
#: topology's consumers
SERVICES = ("api", "media_process", "selection", "enhance", "video")
#: the bus, as Terraform names it (``${prefix}-bus``; the embedded stack's prefix is ``shoebox`` by default)
BUS_NAME = "${prefix}-bus"
#: the SQS binding version the operations' bindings follow (AsyncAPI bindings, ``sqs``)
SQS_BINDING_VERSION = "0.2.0"
#: a subscriber's queue as the bindings describe it (docs/consuming-events.md: its own queue and DLQ)
SUBSCRIBER_QUEUE = "{subscriber-queue}"


def sources(producer: str) -> list[str]:
    """The EventBridge ``source`` values a family is published with, from its producer in :data:`PRODUCERS`.

    A saga's requests are recorded by the api (the saga sends it a command; ``shared/runtime/inbound.py``), so
    ``saga`` and ``api/saga`` events come from ``shoebox/api``; ``runtime`` events (``message.failed``) from
    whichever service's consumer gave up.
    """
    if producer == "runtime":
        return [SOURCE_PREFIX + s for s in SERVICES]
    names = {"api" if p == "saga" else p for p in producer.split("/")}
    unknown = names - set(SERVICES)
    if unknown:
        raise ValueError(f"producer {producer!r}: {sorted(unknown)} is not a service in SERVICES")
    return sorted(SOURCE_PREFIX + n for n in names)


def eventbridge_binding(family: str, producer: str) -> dict[str, Any]:
    """The ``x-eventbridge`` extension of a channel (AsyncAPI has no EventBridge binding): where the family is
    published and the rule pattern that selects it."""
    source = sources(producer)
    return {
        "eventBusName": BUS_NAME,
        "source": source,
        "detailType": family,
        "detail": "the whole event: the CloudEvents envelope with its typed `data`",
        "eventPattern": {"source": source, "detail-type": [family]},
    }


def sqs_binding() -> dict[str, Any]:
    """The ``sqs`` operation binding of a send: the events reach a subscriber's own queue (publish-subscribe,
    EventBridge in the place SNS takes in the binding's description), with a DLQ behind it."""
    return {
        "queues": [
            {
                "name": SUBSCRIBER_QUEUE,
                "fifoQueue": False,
                "redrivePolicy": {
                    "deadLetterQueue": {"name": f"{SUBSCRIBER_QUEUE}-dlq"},
                    "maxReceiveCount": 5,
                },
                "x-delivered-by": (
                    "an EventBridge rule of the subscriber's on the bus, target its queue; the SQS body is "
                    "the EventBridge event (`detail`: the whole event), read by shoebox_events.decode_message"
                ),
            }
        ],
        "bindingVersion": SQS_BINDING_VERSION,
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
            "x-eventbridge": eventbridge_binding(family, producer),
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
            "bindings": {"sqs": sqs_binding()},
            "x-shoebox-producer": producer,
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:shoebox:events",
        "info": {
            "title": "Shoebox events",
            "version": version or CONTRACTS_VERSION,
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
                    "The custom EventBridge bus `<prefix>-bus` (default prefix `shoebox`; Terraform's output "
                    "`bus_name`). Every event is put on it by the outbox relay with `source` = the event's "
                    f"`source` (`{SOURCE_PREFIX}<service>`) and `detail-type` = its family. Subscribe with a "
                    "rule of your own targeting your queue (docs/consuming-events.md). Locally the embedded "
                    "AWS emulator serves the same bus."
                ),
                "variables": {"region": {"default": "us-east-1"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
