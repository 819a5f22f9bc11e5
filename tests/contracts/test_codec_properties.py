"""Property tests of the codec over every event class in the catalogue.

Instances are drawn by ``tests.support.strategies.events`` (built from each class's ``msgspec.inspect`` type
tree: timezone-aware datetimes, finite floats); see the hostile-input tests at the end for what happens
otherwise.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from shared.events import catalogue as c
from shared.events.codec import CATALOGUE, EventDecodeError, make_event
from shared.events.envelope import Event
from shared.events.schemas import DEFAULT_DIR, schema_filename
from tests.support.strategies import JSON_VALUES, events

# ~30 examples per class for the contract itself (round trips, schema validity), fewer for the generic
# tolerance and rejection properties: the whole module stays well under 10 s.
EXAMPLES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER_EXAMPLES = settings(EXAMPLES, max_examples=20)

ALL = CATALOGUE.events
CURRENT = [cls for cls in ALL if CATALOGUE.is_current(cls)]
OLD = [cls for cls in ALL if not CATALOGUE.is_current(cls)]


def _id(cls: type[Event[Any]]) -> str:
    return cls.type_name()


@functools.cache
def validator(cls: type[Event[Any]]) -> Draft202012Validator:
    return Draft202012Validator(json.loads((DEFAULT_DIR / schema_filename(cls)).read_text()))


def _envelope(event: Event[Any]) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__ if f not in ("data", "dataschema")}


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("cls", CURRENT, ids=_id)
@EXAMPLES
@given(data=st.data())
def test_current_version_encode_then_decode_is_the_identity(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    event = data.draw(events(cls))
    decoded = CATALOGUE.decode(CATALOGUE.encode(event))
    assert type(decoded) is cls
    assert decoded == event
    assert CATALOGUE.encode(decoded) == CATALOGUE.encode(event)


@pytest.mark.parametrize("cls", OLD, ids=_id)
@EXAMPLES
@given(data=st.data())
def test_old_version_decodes_to_the_current_version(cls: type[Event[Any]], data: st.DataObject) -> None:
    event = data.draw(events(cls))
    decoded = CATALOGUE.decode(CATALOGUE.encode(event))
    current = CATALOGUE.current[cls.family()]
    assert type(decoded) is current
    assert _envelope(decoded) == _envelope(event)
    assert decoded.dataschema == current.schema_uri()
    assert validator(current).is_valid(json.loads(CATALOGUE.encode(decoded)))


@EXAMPLES
@given(event=events(c.SessionCreatedV1))
def test_session_created_v1_upcasts_its_context_into_the_trip(event: c.SessionCreatedV1) -> None:
    decoded = CATALOGUE.decode(CATALOGUE.encode(event))
    assert isinstance(decoded, c.SessionCreatedV2)
    assert decoded.data == c.SessionCreatedV2Data(
        owner=event.data.owner, trip=c.Trip(context=event.data.context)
    )


@EXAMPLES
@given(event=events(c.FileRejectedV1))
def test_file_rejected_v1_upcasts_to_v2_as_it_was(event: c.FileRejectedV1) -> None:
    decoded = CATALOGUE.decode(CATALOGUE.encode(event))
    assert isinstance(decoded, c.FileRejected)
    assert msgspec.to_builtins(decoded.data) == msgspec.to_builtins(event.data)


# --------------------------------------------------------------------------- schemas
@pytest.mark.parametrize("cls", ALL, ids=_id)
@EXAMPLES
@given(data=st.data())
def test_every_encoded_event_validates_against_its_committed_schema(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    document = json.loads(CATALOGUE.encode(data.draw(events(cls))))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(cls).iter_errors(document)]
    assert not errors


# --------------------------------------------------------------------------- tolerant reading
# No field of any event starts with "zz_" (checked below), so these never collide with a known field.
EXTRA_FIELDS = st.dictionaries(
    st.text(min_size=1, max_size=6).map(lambda k: f"zz_{k}"), JSON_VALUES, min_size=1, max_size=2
)


def test_no_event_field_starts_with_the_extra_field_prefix() -> None:
    for cls in ALL:
        for t in (cls, cls.payload_type()):
            assert not any(f.startswith("zz_") for f in t.__struct_encode_fields__)


@pytest.mark.parametrize("cls", ALL, ids=_id)
@FEWER_EXAMPLES
@given(data=st.data())
def test_decoding_ignores_unknown_fields_in_envelope_and_payload(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    raw = CATALOGUE.encode(data.draw(events(cls)))
    document = json.loads(raw)
    document.update(data.draw(EXTRA_FIELDS, label="envelope extras"))
    document["data"].update(data.draw(EXTRA_FIELDS, label="payload extras"))
    assert CATALOGUE.decode(json.dumps(document).encode()) == CATALOGUE.decode(raw)


# --------------------------------------------------------------------------- rejection
WRONG_VALUES = [None, True, 0, -1, 1.5, "", "x", [], [1], {}, {"a": 1}]


@pytest.mark.parametrize("cls", ALL, ids=_id)
@FEWER_EXAMPLES
@given(data=st.data())
def test_a_field_of_the_wrong_type_raises_event_decode_error(
    cls: type[Event[Any]], data: st.DataObject
) -> None:
    raw = CATALOGUE.encode(data.draw(events(cls)))
    document = json.loads(raw)
    level = data.draw(st.sampled_from(["envelope", "data"]), label="level")
    key = data.draw(
        st.sampled_from(sorted(document if level == "envelope" else document["data"])), label="field"
    )
    tried = 0
    for wrong in data.draw(st.permutations(WRONG_VALUES), label="wrong values"):
        if tried == 2:
            break
        mutated = json.loads(raw)
        (mutated if level == "envelope" else mutated["data"])[key] = wrong
        # The committed schema is the oracle for "wrong"; it must never be stricter than the codec.
        if validator(cls).is_valid(mutated):
            continue
        tried += 1
        with pytest.raises(EventDecodeError):
            CATALOGUE.decode(json.dumps(mutated).encode())
    assert tried, f"every value in WRONG_VALUES is valid for {level}.{key}: add one that is not"


@EXAMPLES
@given(data=st.data())
def test_a_missing_required_field_raises_event_decode_error(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(ALL), label="class")
    document = json.loads(CATALOGUE.encode(data.draw(events(cls))))
    level = data.draw(st.sampled_from([document, document["data"]]), label="level")
    required = validator(cls).schema["required"] if level is document else None
    if required is None:
        payload = msgspec.inspect.type_info(cls.payload_type())
        assert isinstance(payload, mi.StructType)
        required = [f.encode_name for f in payload.fields if f.required]
    assume(required)
    del level[data.draw(st.sampled_from(required), label="removed")]
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode(json.dumps(document).encode())


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200) | st.text(max_size=200))
def test_garbage_raises_event_decode_error(raw: bytes | str) -> None:
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode(raw)


@settings(max_examples=100, deadline=None)
@given(value=JSON_VALUES)
def test_json_that_is_not_an_event_raises_event_decode_error(value: Any) -> None:
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode(json.dumps(value).encode())


@EXAMPLES
@given(data=st.data())
def test_a_truncated_event_raises_event_decode_error(data: st.DataObject) -> None:
    raw = CATALOGUE.encode(data.draw(events(data.draw(st.sampled_from(ALL), label="class"))))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="cut")
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode(raw[:cut])


def _file_processed(**photo: float) -> c.FileProcessed:
    signals = dict(
        sharpness=1.0, exposure_mean=0.5, shadows_clipped=0.0, highlights_clipped=0.0, colour_cast=0.0
    )
    payload = c.FileProcessedData(
        file=c.FileRef(bucket="b", key="uploads/s/a.jpg", name="a.jpg", size=3, etag="e"),
        kind="photo",
        media_type="image/jpeg",
        sha256="0" * 64,
        photo=c.PhotoSignals(**{**signals, **photo}, phash="0" * 16),
    )
    event = make_event(payload, source="media_process", session_id="s")
    assert isinstance(event, c.FileProcessed)
    return event


def test_an_unknown_event_type_raises_event_decode_error() -> None:
    document = json.loads(CATALOGUE.encode(_file_processed()))
    document["type"] = "shoebox.media.file.processed.v99"
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode(json.dumps(document).encode())


# --------------------------------------------------------------------------- hostile input
def test_deeply_nested_unknown_field_raises_event_decode_error() -> None:
    depth = 5000  # ~10 KB: well within an SQS message
    raw = b'{"zz":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode(raw)


def test_text_with_a_lone_surrogate_raises_event_decode_error() -> None:
    with pytest.raises(EventDecodeError):
        CATALOGUE.decode('{"type": "\ud800"}')


def test_an_event_with_a_non_finite_float_is_never_encoded_into_undecodable_bytes() -> None:
    event = _file_processed(sharpness=float("nan"))
    try:
        raw = CATALOGUE.encode(event)
    except (ValueError, TypeError):
        return  # refusing to encode is fine
    CATALOGUE.decode(raw)
