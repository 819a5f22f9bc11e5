"""The AsyncAPI document's EventBridge and SQS bindings: where each family is published (bus, ``source``,
``detail-type``) and how it reaches a subscriber's queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.topology import TOPOLOGY
from shared.events import SOURCE_PREFIX
from shared.events.codec import CATALOGUE
from shared.events.schemas import ASYNCAPI_FILE, DEFAULT_DIR, PRODUCERS
from shared.events.schemas.asyncapi import SERVICES, sources

FAMILIES = sorted({cls.family() for cls in CATALOGUE.events})


@pytest.fixture(scope="module")
def asyncapi() -> Any:
    return json.loads((DEFAULT_DIR / ASYNCAPI_FILE).read_text(encoding="utf-8"))


def test_the_publishing_services_are_the_topologys() -> None:
    assert list(SERVICES) == [c.service for c in TOPOLOGY.consumers]


def test_every_channel_says_where_its_family_is_published(asyncapi: Any) -> None:
    channels = {ch["address"]: ch for ch in asyncapi["channels"].values()}
    assert sorted(channels) == FAMILIES
    for family, channel in channels.items():
        bridge = channel["x-eventbridge"]
        assert bridge["eventBusName"] == "${prefix}-bus"
        assert bridge["detailType"] == family
        assert bridge["source"] == sources(PRODUCERS[family])
        assert bridge["source"] and all(s.startswith(SOURCE_PREFIX) for s in bridge["source"])
        assert bridge["eventPattern"] == {"source": bridge["source"], "detail-type": [family]}


def test_every_send_operation_has_an_sqs_binding_with_a_dlq(asyncapi: Any) -> None:
    for name, operation in asyncapi["operations"].items():
        binding = operation["bindings"]["sqs"]
        assert binding["bindingVersion"] == "0.2.0", name
        (queue,) = binding["queues"]
        assert queue["fifoQueue"] is False  # EventBridge rules deliver to standard queues in any order
        assert queue["redrivePolicy"]["deadLetterQueue"]["name"] == f"{queue['name']}-dlq"
        assert queue["redrivePolicy"]["maxReceiveCount"] >= 1


def test_the_source_of_a_runtime_event_is_any_service_and_sagas_are_recorded_by_the_api() -> None:
    assert sources("runtime") == [f"shoebox/{s}" for s in SERVICES]
    assert sources("api/saga") == sources("saga") == ["shoebox/api"]
    with pytest.raises(ValueError, match="not a service"):
        sources("billing")
