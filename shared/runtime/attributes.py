"""Read-model values as DynamoDB attribute values, and back.

The values are JSON-like (``views.Value``: str, int, float, bool, None, lists and maps of them).
Encoded as boto3's ``TypeSerializer`` / ``TypeDeserializer`` do (``tests/unit/test_attributes.py``
holds the two to the same output), written here because the runtime uses aiobotocore alone: importing the
sync SDK for two small functions would put boto3 into every service's image.

Numbers follow DynamoDB's rules: at most 38 significant digits, exponent within -128..126; a float goes
through its shortest repr, so 0.1 is stored as ``0.1``, not as its binary expansion. Reading back, an
integral number is an int and any other a float.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any

from shared.runtime.views import Value

#: DynamoDB's number limits, as a context that raises rather than round (boto3 uses the same one).
NUMBER_CONTEXT = decimal.Context(
    Emin=-128,
    Emax=126,
    prec=38,
    traps=[decimal.Clamped, decimal.Overflow, decimal.Inexact, decimal.Rounded, decimal.Underflow],
)


def to_attr(value: Value) -> dict[str, Any]:
    """One value as a DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1.5"}``, ``{"M": {...}}``...).

    Raises TypeError for what a read model does not hold (bytes, a set, an object, a non-finite number) and
    decimal.Inexact / Rounded for a number with more than 38 significant digits."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: a bool is an int
        return {"BOOL": value}
    if isinstance(value, int | float | decimal.Decimal):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {k: to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"no DynamoDB attribute value for {type(value).__name__}: {value!r}")


def _number(value: int | float | decimal.Decimal) -> str:
    # a float through its shortest repr: Decimal(0.1) would be the 55-digit binary expansion
    exact = decimal.Decimal(repr(value)) if isinstance(value, float) else value
    if not decimal.Decimal(exact).is_finite():
        raise TypeError(f"DynamoDB holds no infinity or NaN: {value!r}")
    return str(NUMBER_CONTEXT.create_decimal(exact))


def from_attr(attr: Mapping[str, Any]) -> Value:
    """The value one DynamoDB attribute value holds: numbers as int when integral, else float."""
    if len(attr) != 1:
        raise TypeError(f"an attribute value has exactly one type key: {attr!r}")
    ((kind, raw),) = attr.items()
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return raw  # type: ignore[no-any-return]
    if kind == "N":
        number = NUMBER_CONTEXT.create_decimal(raw)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {k: from_attr(v) for k, v in raw.items()}
    if kind == "L":
        return [from_attr(v) for v in raw]
    raise TypeError(f"read models hold no DynamoDB {kind!r} values")


def from_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Value]:
    """A whole item (GetItem's ``Item``, one of Query's ``Items``) as plain values."""
    return {k: from_attr(v) for k, v in item.items()}


def to_item(values: Mapping[str, Value]) -> dict[str, dict[str, Any]]:
    """A whole item of plain values as DynamoDB attribute values (PutItem's, BatchWriteItem's ``Item``)."""
    return {k: to_attr(v) for k, v in values.items()}
