"""``decode_message``: one of our events from an SQS body (the EventBridge event a rule delivers) or the bare
envelope, typed and upcast; a clear error for what is not ours."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.events import (
    CATALOGUE,
    BusMessage,
    EventDecodeError,
    NotOurEvent,
    decode_message,
    read_bus_message,
)
from shared.events.envelope import Event
from tests.support.messages import bus_body, s3_event_body, saga_command_body
from tests.support.strategies import events

EXAMPLES = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _id(cls: type[Event[Any]]) -> str:
    return cls.type_name()


@pytest.mark.parametrize("cls", CATALOGUE.events, ids=_id)
@EXAMPLES
@given(data=st.data())
def test_a_bus_body_and_the_bare_envelope_decode_to_the_current_version(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    event = data.draw(events(cls))
    expected = CATALOGUE.decode(CATALOGUE.encode(event))  # upcast when ``cls`` is an old version
    assert CATALOGUE.is_current(type(expected))
    body = bus_body(event)
    assert decode_message(body) == expected
    assert decode_message(body.encode()) == expected
    assert decode_message(CATALOGUE.encode(event)) == expected
    message = read_bus_message(body)
    assert isinstance(message, BusMessage)
    assert message.detail_type == cls.family()
    assert decode_message(message) == expected


@pytest.mark.parametrize(
    "body",
    [
        s3_event_body("media", "uploads/s/x.jpg", 1, "e"),
        saga_command_body("request_triage", "s", "j"),
        json.dumps({"Records": [{"eventSource": "aws:s3"}]}),
        json.dumps({"specversion": "1.0", "type": "com.example.order.placed", "id": "1", "source": "x"}),
        json.dumps({"source": "other.team", "detail-type": "Order Placed", "detail": {"order": 1}}),
        "[]",
    ],
    ids=["s3", "saga", "s3-records", "other-cloudevent", "other-eventbridge", "array"],
)
def test_what_is_not_ours_is_a_not_our_event_error(body: str) -> None:
    with pytest.raises(NotOurEvent):
        decode_message(body)


def test_ours_but_unreadable_is_an_event_decode_error_not_not_ours() -> None:
    body = json.loads(bus_body(CATALOGUE.decode(_SESSION)))
    body["detail"]["type"] = "shoebox.session.created.v9"
    with pytest.raises(EventDecodeError) as raised:
        decode_message(json.dumps(body))
    assert not isinstance(raised.value, NotOurEvent)
    with pytest.raises(EventDecodeError):
        decode_message("{not json")


def test_a_detail_type_that_disagrees_with_the_event_is_refused() -> None:
    body = json.loads(bus_body(CATALOGUE.decode(_SESSION)))
    body["detail-type"] = "shoebox.upload.finalized"
    with pytest.raises(EventDecodeError, match="does not match"):
        decode_message(json.dumps(body))


_SESSION = json.dumps(
    {
        "type": "shoebox.session.created.v1",
        "specversion": "1.0",
        "id": "e1",
        "source": "shoebox/api",
        "time": "2026-12-08T10:00:00Z",
        "sessionid": "s1",
        "correlationid": "e1",
        "data": {"owner": "o", "context": "a trip"},
    }
)


def test_an_old_version_on_the_bus_is_upcast() -> None:
    raw = json.loads(bus_body(CATALOGUE.decode(_SESSION)))
    raw["detail"] = json.loads(_SESSION)  # the v1 envelope as published before v2 existed
    upcast = decode_message(json.dumps(raw))
    assert type(upcast).type_name() == "shoebox.session.created.v2"
    assert upcast.data.trip.context == "a trip"


def test_the_published_documents_are_found_in_the_repository_too() -> None:
    """In the wheel they are package data; here, the committed ``schemas/`` (``documents_dir``)."""
    from shared.events import catalogue as c
    from shared.events import documents_dir, event_json_schema

    assert (documents_dir() / "asyncapi.json").is_file()
    assert event_json_schema(c.FileProcessed)["$id"] == c.FileProcessed.schema_uri()
    assert (
        event_json_schema(c.FileProcessed, draft4=True)["$schema"]
        == "http://json-schema.org/draft-04/schema#"
    )
