"""Pieces of the DynamoDB event log's transactions (``log.DynamoEventLog``): which failures are worth another
try, and how a condition joins an operation's."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.runtime.attributes import to_attr


def is_transient(exc: BaseException) -> bool:
    """A transaction DynamoDB cancelled for a conflict with another one in flight (or throttled inside
    it): worth trying again. Throttling and 5xx answers to the call itself are botocore's to retry
    (``aws.py``: standard mode), not ours on top."""
    if not isinstance(exc, ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons", [])
        return any(r.get("Code") in ("TransactionConflict", "ThrottlingError") for r in reasons) and not any(
            r.get("Code") == "ConditionalCheckFailed" for r in reasons
        )
    return code == "TransactionConflictException"


def with_condition(op: dict[str, Any], condition: tuple[str, dict[str, str], dict[str, Any]]) -> None:
    """``op`` also holding ``condition`` (AND the one it has)."""
    expr, names, values = condition
    op["ConditionExpression"] = (
        f"({op['ConditionExpression']}) AND ({expr})" if "ConditionExpression" in op else expr
    )
    op.setdefault("ExpressionAttributeNames", {}).update(names)
    if values:  # DynamoDB refuses an empty map
        op.setdefault("ExpressionAttributeValues", {}).update({k: to_attr(v) for k, v in values.items()})
