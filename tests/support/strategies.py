"""Hypothesis strategies for the published events, shared by the property tests.

Instances are built from each class's ``msgspec.inspect`` type tree rather than ``st.from_type``:
``from_type`` works on these Structs but draws naive datetimes and NaN floats (and passes a
``default_factory`` field its factory), and there is no scoped way to override that without registering
global strategies for builtins. Here datetimes are timezone-aware (whole-minute offsets, which RFC 3339 can
carry) and floats finite.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from shared.events.envelope import Event

_OFFSETS = st.one_of(
    st.just(dt.UTC),
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
)
AWARE_DATETIMES = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=_OFFSETS
)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)


def _bounded(t: Any, lo: str, hi: str) -> dict[str, Any]:
    return {k: v for k, v in (("min_value", getattr(t, lo, None)), ("max_value", getattr(t, hi, None))) if v}


def strategy(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values of the msgspec type ``t`` that JSON carries faithfully."""
    if isinstance(t, mi.StructType):
        return _struct(t)
    if isinstance(t, mi.StrType):
        if t.pattern is not None:
            return st.from_regex(t.pattern, fullmatch=True)
        return st.text(min_size=t.min_length or 0, max_size=t.max_length or 8)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.integers(**_bounded(t, "ge", "le"))
    if isinstance(t, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False, **_bounded(t, "ge", "le"))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.UnionType):
        return st.one_of(*(strategy(u) for u in t.types))
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        kinds = {mi.ListType: list, mi.SetType: set, mi.FrozenSetType: frozenset, mi.VarTupleType: tuple}
        items = st.lists(strategy(t.item_type), min_size=t.min_length or 0, max_size=t.max_length or 2)
        return items.map(kinds[type(t)])
    if isinstance(t, mi.DictType):
        return st.dictionaries(strategy(t.key_type), strategy(t.value_type), max_size=2)
    if isinstance(t, mi.DateTimeType):
        return AWARE_DATETIMES
    raise NotImplementedError(f"no strategy for {t!r}: extend tests/support/strategies.py")


def _struct(t: mi.StructType) -> st.SearchStrategy[Any]:
    required = {f.name: strategy(f.type) for f in t.fields if f.required}
    optional = {f.name: strategy(f.type) for f in t.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: t.cls(**kw))


@functools.cache
def events(cls: type[Event[Any]]) -> st.SearchStrategy[Event[Any]]:
    return strategy(mi.type_info(cls))


# --------------------------------------------------------------------------- a session's uploads
class Put(msgspec.Struct, frozen=True):
    """The client writes ``content`` (a name the test gives bytes) under ``name``: S3 announces the write."""

    name: str
    content: str


class Deliver(msgspec.Struct, frozen=True):
    """SQS delivers one announcement not delivered yet (the ``pick``-th, modulo how many wait)."""

    pick: int


class Redeliver(msgspec.Struct, frozen=True):
    """SQS delivers an announcement again: the same message, the same sequencer."""

    pick: int


class Delete(msgspec.Struct, frozen=True):
    """The file is deleted (a confirmed discard, a cleanup), if it is there."""

    name: str


class GiveUp(msgspec.Struct, frozen=True):
    """The runtime gives an announcement up (its handler failed on every receive, or every worker died)."""

    pick: int


UploadStep = Put | Deliver | Redeliver | Delete | GiveUp


def upload_steps(
    names: Sequence[str], contents: Sequence[str], *, min_size: int = 6, max_size: int = 40
) -> st.SearchStrategy[list[UploadStep]]:
    """Any sequence of writes (the same bytes again, other bytes under a name, re-uploads after a deletion),
    deletions, deliveries, redeliveries and give-ups: writes and deliveries the most often, give-ups the
    least (a content named twice in ``contents`` is written twice as often)."""
    pick = st.integers(min_value=0, max_value=63)
    put = st.builds(Put, st.sampled_from(names), st.sampled_from(contents))
    deliver, redeliver = st.builds(Deliver, pick), st.builds(Redeliver, pick)
    delete, give_up = st.builds(Delete, st.sampled_from(names)), st.builds(GiveUp, pick)
    # a kind of step named n times is drawn n times as often (one_of would draw each strategy once)
    kinds: list[st.SearchStrategy[UploadStep]] = [
        *[put] * 6,
        *[deliver] * 4,
        *[redeliver] * 2,
        *[delete] * 2,
        give_up,
    ]
    step: st.SearchStrategy[UploadStep] = st.sampled_from(kinds).flatmap(lambda kind: kind)
    return st.lists(step, min_size=min_size, max_size=max_size)


# --------------------------------------------------------------------------- finalize
#: names a finalize may list: the session's own files, made-up ones, and ones no upload can have
FINALIZE_NAMES = ("a.jpg", "b.jpg", "c.mov", "d.heic", "made-up-1.jpg", "made-up-2.jpg", "../x.jpg", ".x.jpg")
Decision = str  # "processed" | "rejected" | "duplicate" | "deleted" (processed, then deleted)


class FinalizeCase(msgspec.Struct, frozen=True):
    """A session expecting ``expected`` files, some of them decided (by name), and a finalize that names
    ``failed`` as the uploads that failed on the client."""

    expected: int
    decided: dict[str, Decision]
    failed: list[str]


def finalize_cases() -> st.SearchStrategy[FinalizeCase]:
    """Any session state and any list of names, duplicates included: mostly lists the rule refuses."""
    own = st.sampled_from(FINALIZE_NAMES[:4])
    decided = st.dictionaries(
        own, st.sampled_from(["processed", "rejected", "duplicate", "deleted"]), max_size=4
    )
    failed = st.lists(st.sampled_from(FINALIZE_NAMES), max_size=12)
    return st.builds(FinalizeCase, st.integers(min_value=1, max_value=8), decided, failed)
