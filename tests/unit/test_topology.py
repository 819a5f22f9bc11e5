"""The topology is the one source: every service declared, handlers named after their events, and the
file Terraform reads matches the code."""

from __future__ import annotations

import importlib

from deploy.local import topology_export
from deploy.topology import TOPOLOGY
from shared.runtime.config import Names
from shared.runtime.topology import MAX_RECEIVE_COUNT, VISIBILITY_FACTOR
from tests.support.paths import ROOT


def test_terraform_topology_file_matches_the_code() -> None:
    assert topology_export.TARGET.read_text() == topology_export.render(), "run `task topology`"


def test_every_service_folder_declares_its_consumer() -> None:
    folders = {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")}
    assert folders and {c.service for c in TOPOLOGY.consumers} == folders


def test_queues_follow_the_redrive_and_visibility_rules() -> None:
    d = TOPOLOGY.describe(Names(prefix="p"))
    for c in d["consumers"]:
        assert c["max_receive_count"] == MAX_RECEIVE_COUNT
        assert c["visibility_timeout_s"] >= VISIBILITY_FACTOR * c["handler_timeout_s"]
        assert c["dead_letter_queue"] == c["queue"] + "-dlq"


def test_no_two_resources_share_a_name() -> None:
    """The stack keeps its resources by name: a saga named like a service's queue (both "selection") once
    overwrote the queue's URL with the state machine's ARN, and the selection worker polled nothing."""
    d = TOPOLOGY.describe(Names(prefix="p"))
    names = [n for c in d["consumers"] for n in (c["queue"], c["dead_letter_queue"])]
    names += [s["name"] for s in d["state_machines"]]
    assert len(names) == len(set(names)), sorted(names)


def test_only_the_uploads_prefix_reaches_media_process_and_it_lives_on_the_default_bus() -> None:
    [rule] = TOPOLOGY.consumer("media_process").rules(Names(prefix="p"))
    assert rule.bus == "default"
    assert rule.pattern["detail"]["object"]["key"] == [{"prefix": "uploads/"}]
    assert rule.pattern["detail"]["bucket"]["name"] == ["p-media"]


def test_services_with_an_app_have_a_handler_named_after_each_event() -> None:
    checked: list[str] = []
    for consumer in TOPOLOGY.consumers:
        module = f"services.{consumer.service}.handlers"
        try:
            handlers = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise  # built, but something it imports is missing
            continue  # not built yet: its queue exists, nothing consumes it
        checked.append(consumer.service)
        for handled, name in consumer.handler_names().items():
            assert callable(getattr(handlers, name, None)), f"{consumer.service} lacks {name} for {handled}"
    assert {"api", "media_process", "selection"} <= set(checked), checked
