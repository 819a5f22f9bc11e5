"""DynamoDB pieces of the event log (``log.DynamoEventLog``): a commit's transaction items (events put once,
read-model updates with their conditions, condition checks), which transaction failures are worth another
try, and reads of many items by key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from shared.runtime.attributes import to_attr
from shared.runtime.views import Condition, ViewKey, ViewUpdate, update_expression

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef

#: an item that does not exist yet / one that does
ABSENT = "attribute_not_exists(pk)"
EXISTS = "attribute_exists(pk)"

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


def with_condition(op: dict[str, Any], condition: Condition) -> None:
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


def put_new(
    table: str, pk: str, sk: int, kind: str, strings: dict[str, str], *, seq: int | None = None
) -> TransactWriteItemTypeDef:
    """A Put into the events table that fails its transaction if the item already exists."""
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"N": str(sk)}, "kind": {"S": kind}}
    item.update({k: {"S": v} for k, v in strings.items()})
    if seq is not None:
        item["sequence"] = {"N": str(seq)}
    return {"Put": {"TableName": table, "ConditionExpression": ABSENT, "Item": item}}


def view_op(table: str, u: ViewUpdate) -> tuple[Literal["Update", "Delete"], dict[str, Any]]:
    """One read-model change as the parameters of an UpdateItem or DeleteItem, which are also those of a
    transaction's ``Update`` / ``Delete`` item."""
    op: dict[str, Any] = {"TableName": table, "Key": {"pk": {"S": u.key.pk}, "sk": {"S": u.key.sk}}}
    if u.delete:
        return "Delete", op
    expr, names, values = update_expression(u)
    op["UpdateExpression"] = expr
    op["ExpressionAttributeNames"] = names
    op["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in values.items()}
    return "Update", op


def view_items(
    table: str,
    updates: Sequence[ViewUpdate],
    conditions: Mapping[ViewKey, Sequence[Condition]],
    again: set[ViewKey],
    offset: int,
) -> tuple[list[TransactWriteItemTypeDef], set[int]]:
    """The read-model updates as transaction items (from index ``offset``), each with the claim it makes
    (``require_absent``) and its ``conditions``; and the indices of the items of ``again`` (whose failed
    condition means "read again", not "decide again")."""
    items: list[TransactWriteItemTypeDef] = []
    indices: set[int] = set()
    for u in updates:
        kind, op = view_op(table, u)
        if u.require_absent:
            op["ConditionExpression"] = ABSENT
        for condition in conditions.get(u.key, ()):
            with_condition(op, condition)
        if u.key in again:
            indices.add(offset + len(items))
        items.append({kind: op})  # type: ignore[misc]
    return items, indices


def condition_check(table: str, key: ViewKey, condition: Condition) -> TransactWriteItemTypeDef:
    """A transaction item that only checks ``condition`` on the item at ``key``."""
    check: dict[str, Any] = {"TableName": table, "Key": {"pk": {"S": key.pk}, "sk": {"S": key.sk}}}
    with_condition(check, condition)
    return {"ConditionCheck": check}  # type: ignore[typeddict-item]
