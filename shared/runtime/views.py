"""Read models: small DynamoDB items the sagas and the API read in one call.

A read model is never written on its own. It changes only through ``ViewUpdate``s that a projection
derives from an event, committed in the same transaction as that event (see ``log.py``), so a counter can
never disagree with the log, and any read model can be rebuilt by replaying the log. Each kind of item
is a Struct (``read_models.py``); what is here works on stored items as plain values, as DynamoDB holds
them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

Scalar = str | int | float | bool | None
Value = Scalar | list[Any] | dict[str, Any]
#: a ConditionExpression, its ExpressionAttributeNames and its (plain Python) values
Condition = tuple[str, dict[str, str], dict[str, Any]]


class ViewKey(msgspec.Struct, frozen=True, order=True):
    pk: str
    sk: str


class ViewUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """Changes to one read-model item: counters to add to, fields to set, fields to set only once."""

    key: ViewKey
    add: dict[str, int] = {}
    set: dict[str, Value] = {}
    set_if_absent: dict[str, Value] = {}
    #: a claim: the commit fails (``ClaimTaken``) when the item already exists
    require_absent: bool = False
    #: remove the item (a released claim); nothing else may change it in the same commit
    delete: bool = False


class ViewExpectation(msgspec.Struct, frozen=True):
    """A commit's condition on one read-model item: it is still at ``version`` (what its writer read; 0:
    absent, or written before items carried a version). A commit whose expectation fails writes nothing
    (``ClaimTaken``): the handler decides again with what is there now. Never part of a projection: it is
    about who wrote first, not about what the events mean, so a rebuild ignores it."""

    key: ViewKey
    version: int

    def holds(self, item: Mapping[str, Value] | None) -> bool:
        """Whether the stored ``item`` (None: absent) is at the expected version."""
        return version_of(item) == self.version

    def condition(self) -> Condition:
        """The same as a DynamoDB ConditionExpression."""
        if self.version == 0:
            return "attribute_not_exists(#xv)", {"#xv": "version"}, {}
        return "#xv = :xv", {"#xv": "version"}, {":xv": self.version}


def stamped(update: ViewUpdate, version: int) -> ViewUpdate:
    """``update`` also setting the item's ``version`` (a deletion stays as it is)."""
    if update.delete:
        return update
    return msgspec.structs.replace(update, set={**update.set, "version": version})


def version_of(item: Mapping[str, Value] | None) -> int:
    """A stored item's ``version`` (0: no item, or one written before items carried one)."""
    v = (item or {}).get("version", 0)
    return v if isinstance(v, int) else 0


def merge(updates: Iterable[ViewUpdate]) -> list[ViewUpdate]:
    """One update per item: DynamoDB refuses two operations on one item in a transaction."""
    merged: dict[ViewKey, ViewUpdate] = {}
    for u in updates:
        prev = merged.get(u.key)
        if prev is None:
            merged[u.key] = u
            continue
        if prev.delete or u.delete:
            if not (_is_delete(prev) and _is_delete(u)):
                raise ValueError(f"{u.key} deleted and changed in one commit")
            continue
        add = dict(prev.add)
        for k, v in u.add.items():
            add[k] = add.get(k, 0) + v
        sets = {**prev.set, **u.set}
        # whichever came first, a SET leaves the field set: the set-if-absent has no effect
        set_if_absent = {k: v for k, v in {**u.set_if_absent, **prev.set_if_absent}.items() if k not in sets}
        merged[u.key] = ViewUpdate(
            key=u.key,
            add=add,
            set=sets,
            set_if_absent=set_if_absent,
            require_absent=prev.require_absent or u.require_absent,
        )
    for u in merged.values():
        clash = (set(u.add) & set(u.set)) | (set(u.add) & set(u.set_if_absent))
        if clash:
            raise ValueError(f"one field updated two ways in {u.key}: {sorted(clash)}")
    return sorted(merged.values(), key=lambda u: u.key)


def _is_delete(u: ViewUpdate) -> bool:
    return u.delete and not (u.add or u.set or u.set_if_absent or u.require_absent)


def apply(item: dict[str, Value] | None, update: ViewUpdate) -> dict[str, Value] | None:
    """The in-memory meaning of an update (what DynamoDB does with the expression we send); None: the
    item is deleted."""
    if update.delete:
        return None
    out: dict[str, Value] = dict(item or {"pk": update.key.pk, "sk": update.key.sk})
    for k, n in update.add.items():
        cur = out.get(k, 0)
        assert isinstance(cur, int)
        out[k] = cur + n
    out.update(update.set)
    for k, v in update.set_if_absent.items():
        out.setdefault(k, v)
    return out


def update_expression(update: ViewUpdate) -> tuple[str, dict[str, str], dict[str, Any]]:
    """UpdateExpression, ExpressionAttributeNames and (plain Python) values for one update."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    adds: list[str] = []
    i = 0
    for field, v in update.set.items():
        names[f"#f{i}"], values[f":v{i}"] = field, v
        sets.append(f"#f{i} = :v{i}")
        i += 1
    for field, v in update.set_if_absent.items():
        names[f"#f{i}"], values[f":v{i}"] = field, v
        sets.append(f"#f{i} = if_not_exists(#f{i}, :v{i})")
        i += 1
    for field, n in update.add.items():
        names[f"#f{i}"], values[f":v{i}"] = field, n
        adds.append(f"#f{i} :v{i}")
        i += 1
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    if adds:
        parts.append("ADD " + ", ".join(adds))
    if not parts:
        raise ValueError(f"empty update for {update.key}")
    return " ".join(parts), names, values
