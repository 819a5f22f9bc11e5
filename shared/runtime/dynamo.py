"""DynamoDB pieces of the event log (``log.DynamoEventLog``): which transaction failures are worth another
try, how a condition joins an operation's, and reads of many items by key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.runtime.attributes import to_attr

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

#: BatchGetItem's limit on keys in one call
BATCH_GET = 100


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


async def get_many(
    client: DynamoDBClient, table: str, keys: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The items at ``keys`` that exist (consistent reads, ``BATCH_GET`` keys a call; what DynamoDB did not
    get to is asked again), in no particular order."""
    found: list[dict[str, Any]] = []
    for i in range(0, len(keys), BATCH_GET):
        wanted: Any = {table: {"Keys": list(keys[i : i + BATCH_GET]), "ConsistentRead": True}}
        while wanted:
            r = await client.batch_get_item(RequestItems=wanted)
            found.extend(r.get("Responses", {}).get(table, []))
            wanted = r.get("UnprocessedKeys") or None
    return found
