"""shared/runtime/attributes.py encodes read-model values exactly as the event log did with boto3's
TypeSerializer / TypeDeserializer (plus its float and Decimal handling), so items written before and after the
change read the same."""

from __future__ import annotations

import decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from shared.runtime.attributes import from_attr, from_item, to_attr

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def boto3_to_attr(value: Any) -> Any:
    """What log.py sent before: floats as the Decimal of their repr, then boto3's serializer."""

    def to_dynamo(v: Any) -> Any:
        if isinstance(v, float):
            return decimal.Decimal(repr(v))
        if isinstance(v, dict):
            return {k: to_dynamo(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [to_dynamo(x) for x in v]
        return v

    return _SERIALIZER.serialize(to_dynamo(value))


def boto3_from_attr(attr: Any) -> Any:
    """What log.py read before: boto3's deserializer, then integral Decimals as int, others as float."""

    def from_dynamo(v: Any) -> Any:
        if isinstance(v, decimal.Decimal):
            return int(v) if v == v.to_integral_value() else float(v)
        if isinstance(v, dict):
            return {k: from_dynamo(x) for k, x in v.items()}
        if isinstance(v, list):
            return [from_dynamo(x) for x in v]
        return v

    return from_dynamo(_DESERIALIZER.deserialize(attr))


scalars = (
    st.none()
    | st.booleans()
    # beyond DynamoDB's 38 digits too: both must refuse those the same way
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except (TypeError, decimal.DecimalException) as exc:
        return "error", type(exc)


@given(values)
def test_encodes_as_boto3_did(value: Any) -> None:
    assert outcome(to_attr, value) == outcome(boto3_to_attr, value)


@given(values)
def test_decodes_as_boto3_did(value: Any) -> None:
    try:
        attr = boto3_to_attr(value)
    except (TypeError, decimal.DecimalException):
        return  # not storable: nothing to read back
    assert from_attr(attr) == boto3_from_attr(attr)


def test_round_trip_of_a_view_item() -> None:
    item = {"pk": "S#1", "sk": "meta", "count": 3, "score": 0.1, "ok": True, "gone": None, "tags": ["a", 2]}
    attrs = {k: to_attr(v) for k, v in item.items()}
    assert attrs["score"] == {"N": "0.1"}
    assert from_item(attrs) == item


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), {1, 2}, b"bytes", object()])
def test_refuses_what_a_read_model_does_not_hold(value: Any) -> None:
    with pytest.raises(TypeError):
        to_attr(value)


def test_refuses_numbers_beyond_38_digits() -> None:
    with pytest.raises(decimal.Inexact):
        to_attr(10**38 + 1)
