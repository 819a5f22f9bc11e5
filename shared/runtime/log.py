"""The event log: one stream per upload session, the source of truth.

``EventLog.commit`` is the only way anything is written. One commit is ONE transaction holding
- the new events (each written at most once: ``source + id`` is guarded by a conditional put),
- the tracking record of the message that caused them (its idempotency key), so a redelivered message
  finds its record, is refused, and produces nothing,
- the read-model updates the projections derive from those events.

Sequence numbers are reserved from a per-stream counter before the transaction. An appender that dies
after reserving leaves a gap, never a duplicate: readers tolerate gaps. Commits to a stream land in
sequence order (each holds the condition that ``COUNTERS.version``, the last committed sequence, is below
its first; one overtaken reserves again), so what changed after version N is the stream after N. A commit
may also expect items at the versions its handler read (``ViewExpectation``), else ``ClaimTaken``.

Read models are read as Structs (``read_models.py``): both implementations store plain values, as
DynamoDB holds them, and decode them the same way (``get_view``, ``query_views``).

Two implementations, one contract (``tests/unit/test_log_contract.py`` runs against both):
``InMemoryEventLog`` for handler tests, ``DynamoEventLog`` for everything else.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import anyio
import msgspec
from botocore.exceptions import ClientError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from shared.events.codec import CATALOGUE, Catalogue
from shared.events.envelope import Event
from shared.runtime import projections
from shared.runtime.attributes import from_item, to_item
from shared.runtime.dynamo import EXISTS, condition_check, get_many, is_transient, put_new, view_items
from shared.runtime.log_types import AlreadyProcessed as AlreadyProcessed
from shared.runtime.log_types import ClaimTaken as ClaimTaken
from shared.runtime.log_types import CommitTooLarge as CommitTooLarge
from shared.runtime.log_types import DuplicateEvent as DuplicateEvent
from shared.runtime.log_types import LogError as LogError
from shared.runtime.log_types import Page as Page
from shared.runtime.log_types import RebuildRaced as RebuildRaced
from shared.runtime.log_types import Tracking as Tracking
from shared.runtime.log_types import UnknownSession as UnknownSession
from shared.runtime.read_models import CountersView, V, ViewItem, decode
from shared.runtime.views import Condition, Value, ViewExpectation, ViewKey, ViewUpdate, apply, merge

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef

    from shared.runtime.aws import Clients

AnyEvent = Event[Any]

#: DynamoDB's limit on items in one transaction.
MAX_TRANSACTION_ITEMS = 100
#: how often a commit reserves sequence numbers again when later-reserved commits landed first
RESERVATIONS = 40


class _SequenceTaken(LogError):
    """A reserved sequence slot was occupied: reserve again."""


_commit_listeners: list[Callable[[], None]] = []


def on_commit(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` (from any thread) after every successful commit in this process; returns the
    function that removes it. The embedded stack's relay uses it to read the stream at once instead of
    polling often (on AWS the stream invokes the relay itself)."""
    _commit_listeners.append(listener)
    return lambda: _commit_listeners.remove(listener)


def _committed() -> None:
    for listener in list(_commit_listeners):
        listener()


def stream_pk(session_id: str) -> str:
    return f"STREAM#{session_id}"


def _event_guard_pk(event: AnyEvent) -> str:
    return f"EVENTID#{event.source}#{event.id}"


def _tracking_pk(t: Tracking) -> str:
    return f"TRACK#{t.consumer}#{t.key}"


def commit_updates(events: Sequence[AnyEvent], extra: Sequence[ViewUpdate] = ()) -> list[ViewUpdate]:
    return merge([u for e in events for u in projections.view_updates(e)] + list(extra))


def _must_exist(sid: str | None, events: Sequence[AnyEvent], views: Sequence[ViewUpdate]) -> str | None:
    """The session whose ``META`` a commit must find: ``sid``, unless the commit writes it (creates it)."""
    writes = {u.key for e in events for u in projections.view_updates(e)} | {u.key for u in views}
    return None if sid is None or projections.meta_key(sid) in writes else sid


class EventLog(abc.ABC):
    """Append-only streams of events plus the read models derived from them."""

    catalogue: Catalogue = CATALOGUE

    @abc.abstractmethod
    async def commit(
        self,
        events: Sequence[AnyEvent],
        *,
        tracking: Tracking | None = None,
        views: Sequence[ViewUpdate] = (),
        expect: Sequence[ViewExpectation] = (),
        session: str | None = None,
    ) -> list[AnyEvent]:
        """Append ``events`` (all to their own ``sessionid`` streams) with their read-model updates and
        the tracking record, atomically, if every item of ``expect`` is still at its version. Returns the
        events with their sequence numbers.

        With ``session`` (``Processor`` passes its message's), the commit holds only if that session exists
        (its ``META``, checked in the transaction; a commit that creates it passes): an event for a session
        that does not exist is never applied. Raises ``AlreadyProcessed``, ``DuplicateEvent``,
        ``ClaimTaken`` or ``UnknownSession`` when nothing was written for that reason.
        """

    @abc.abstractmethod
    async def read(self, session_id: str, *, after: int = 0, limit: int = 100) -> Page:
        """One page of a stream in sequence order, old versions upcast."""

    async def read_between(self, session_id: str, after: int, upto: int) -> list[AnyEvent]:
        """A stream's events after ``after`` up to ``upto``, in order: what changed between two versions."""
        page = await self.read(session_id, after=after, limit=max(1, upto - after))
        return [e for e in page.events if e.sequence <= upto]

    @abc.abstractmethod
    async def is_processed(self, tracking: Tracking) -> bool:
        """Whether a message with this tracking record was already handled (a cheap pre-check)."""

    @abc.abstractmethod
    async def session_ids(self, *, page_size: int = 1000) -> list[str]:
        """Every session with a stream (all pages of the listing), sorted. A session whose every commit
        failed may be listed with no events."""

    async def get_view(self, key: ViewKey, *, type: type[V]) -> V | None:
        """The read-model item at ``key`` as its Struct (``read_models``), None when there is none.
        ``ViewShapeError`` when the stored item does not match it (rebuild the session's read models)."""
        _check_type(key, type)
        item = await self._get_item(key)
        return decode(item, type) if item is not None else None

    @overload
    async def get_views(self, keys: Sequence[ViewKey]) -> list[ViewItem]: ...

    @overload
    async def get_views(self, keys: Sequence[ViewKey], *, type: type[V]) -> list[V]: ...

    async def get_views(
        self, keys: Sequence[ViewKey], *, type: type[ViewItem] | None = None
    ) -> Sequence[ViewItem]:
        """The read-model items at ``keys`` that exist, each as its Struct (with ``type``, every one must be
        of that kind), in no particular order: batched reads (BatchGetItem, 100 keys a call), for a reader
        that needs many items by key."""
        if type is not None:
            for key in keys:
                _check_type(key, type)
        out = []
        for item in await self._get_items(keys):
            key = ViewKey(str(item["pk"]), str(item["sk"]))
            out.append(decode(item, type or projections.view_type(key)))
        return out

    async def _get_items(self, keys: Sequence[ViewKey]) -> list[dict[str, Value]]:
        found = [await self._get_item(key) for key in keys]
        return [item for item in found if item is not None]

    @overload
    async def query_views(self, pk: str, sk_prefix: str = "") -> list[ViewItem]: ...

    @overload
    async def query_views(self, pk: str, sk_prefix: str = "", *, type: type[V]) -> list[V]: ...

    async def query_views(
        self, pk: str, sk_prefix: str = "", *, type: type[ViewItem] | None = None
    ) -> Sequence[ViewItem]:
        """Every read-model item under ``pk`` whose sort key starts with ``sk_prefix`` (all pages), in sort
        key order, each as its Struct; with ``type``, every one must be of that kind."""
        out = []
        for item in await self._query_items(pk, sk_prefix):
            key = ViewKey(str(item["pk"]), str(item["sk"]))
            kind = projections.view_type(key)
            if type is not None:
                _check_type(key, type)
            out.append(decode(item, kind))
        return out

    async def counters(self, session_id: str) -> CountersView:
        """The session's ``COUNTERS`` (all zero, ``version`` 0, before its first event)."""
        key = projections.counters_key(session_id)
        return await self.get_view(key, type=CountersView) or CountersView(pk=key.pk, sk=key.sk)

    async def clear_views(self, pk: str) -> None:
        """Delete every read-model item under ``pk``."""
        stale = [ViewKey(str(i["pk"]), str(i["sk"])) for i in await self._query_items(pk, "")]
        await self._replace_views({}, stale)

    async def _count_pending(
        self, updates: Sequence[ViewUpdate], expect: Sequence[ViewExpectation]
    ) -> tuple[list[ViewUpdate], dict[ViewKey, int]]:
        """``updates`` with ``COUNTERS.pending`` counted from the ``PENDING#`` items they create or delete,
        as read now; and those items' versions (the ones ``expect`` does not name), to commit only if they
        are still there as read (else the commit reads them again)."""
        before = {u.key: await self._get_item(u.key) for u in updates if projections.is_pending(u.key)}
        counted, read = projections.pending_counted(updates, before)
        named = {x.key for x in expect}
        return counted, {k: v for k, v in read.items() if k not in named}

    @abc.abstractmethod
    async def _get_item(self, key: ViewKey) -> dict[str, Value] | None:
        """One stored read-model item, as plain values."""

    @abc.abstractmethod
    async def _query_items(self, pk: str, sk_prefix: str) -> list[dict[str, Value]]:
        """Stored read-model items under ``pk`` by sort key prefix (all pages, in sort key order)."""

    @abc.abstractmethod
    async def _replace_views(
        self, items: Mapping[ViewKey, dict[str, Value]], stale: Sequence[ViewKey]
    ) -> None:
        """Write each of ``items`` whole in place of what is stored at its key; delete ``stale``."""

    async def read_all(self, session_id: str, *, page_size: int = 500) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        after: int | None = 0
        while after is not None:
            page = await self.read(session_id, after=after, limit=page_size)
            out.extend(page.events)
            after = page.next_after
        return out

    async def rebuild_views(self, session_id: str, *, tries: int = 3) -> int:
        """Fold a session's read models again from its stream, and store them in place of what is there:
        every item the fold makes is written whole, items it does not make are deleted. Items are
        replaced, never cleared first, so a reader (the API, the saga) sees each one before or after,
        never missing. A commit that lands meanwhile is found by reading the stream again at the end, and
        the rebuild runs again (at most ``tries`` times; then ``RebuildRaced``); one that lands after that
        applies to the rebuilt items as it would have anyway. Returns the events folded."""
        pk = projections.session_pk(session_id)
        for _ in range(tries):
            events = await self.read_all(session_id)
            folded = projections.fold(events)
            stored = {ViewKey(str(i["pk"]), str(i["sk"])) for i in await self._query_items(pk, "")}
            await self._replace_views(folded, sorted(stored - set(folded)))
            if [e.sequence for e in await self.read_all(session_id)] == [e.sequence for e in events]:
                return len(events)
        raise RebuildRaced(f"events kept landing in session {session_id} during {tries} rebuilds")


def _check_type(key: ViewKey, wanted: type[ViewItem]) -> None:
    kind = projections.view_type(key)
    if kind is not wanted:
        raise TypeError(f"the read model at {key} is a {kind.__name__}, not a {wanted.__name__}")


def _check_size(events: Sequence[AnyEvent], updates: Sequence[ViewUpdate], others: int) -> None:
    n = 2 * len(events) + len(updates) + others  # others: the tracking record, the session's check
    if n > MAX_TRANSACTION_ITEMS:
        raise CommitTooLarge(f"commit needs {n} transaction items, at most {MAX_TRANSACTION_ITEMS} fit")


# ----------------------------------------------------------------------------------------- in memory
class InMemoryEventLog(EventLog):
    """The same contract in a dict, for handler unit tests and benchmarks without the emulator."""

    def __init__(self) -> None:
        self._streams: dict[str, dict[int, bytes]] = {}
        self._heads: dict[str, int] = {}
        self._guards: set[str] = set()
        self._tracking: set[str] = set()
        #: the read-model items as stored (plain values, as DynamoDB holds them): tests look at them here
        self.stored_views: dict[ViewKey, dict[str, Value]] = {}
        self._lock = anyio.Lock()
        self.published: list[bytes] = []  # what a relay would see, in commit order

    async def commit(
        self,
        events: Sequence[AnyEvent],
        *,
        tracking: Tracking | None = None,
        views: Sequence[ViewUpdate] = (),
        expect: Sequence[ViewExpectation] = (),
        session: str | None = None,
    ) -> list[AnyEvent]:
        async with self._lock:  # one commit at a time: they land in sequence order
            if tracking and _tracking_pk(tracking) in self._tracking:
                raise AlreadyProcessed(tracking.key)
            for e in events:
                if _event_guard_pk(e) in self._guards:
                    raise DuplicateEvent(f"{e.source} {e.id}")
            check = _must_exist(session, events, views)
            if check is not None and projections.meta_key(check) not in self.stored_views:
                raise UnknownSession(f"session {check} does not exist")
            stamped = []
            for e in events:
                seq = self._heads.get(e.sessionid, 0) + 1
                self._heads[e.sessionid] = seq
                stamped.append(msgspec.structs.replace(e, sequence=seq))
            updates, _ = await self._count_pending(commit_updates(stamped, views), expect)
            _check_size(stamped, updates, (tracking is not None) + (check is not None) + len(expect))
            taken = [u.key for u in updates if u.require_absent and u.key in self.stored_views]
            taken += [x.key for x in expect if not x.holds(self.stored_views.get(x.key))]
            if taken:  # the reserved sequence numbers stay used: a gap, as in DynamoDB
                raise ClaimTaken(f"claimed or expected read-model items moved on: {taken}")
            for e in stamped:
                raw = self.catalogue.encode(e)
                self._streams.setdefault(e.sessionid, {})[e.sequence] = raw
                self._guards.add(_event_guard_pk(e))
                self.published.append(raw)
            if tracking:
                self._tracking.add(_tracking_pk(tracking))
            await self._apply_views(updates)
            return stamped

    async def read(self, session_id: str, *, after: int = 0, limit: int = 100) -> Page:
        stream = self._streams.get(session_id, {})
        seqs = sorted(s for s in stream if s > after)[: limit + 1]
        events = [self.catalogue.decode(stream[s]) for s in seqs[:limit]]
        return Page(events=events, next_after=seqs[limit - 1] if len(seqs) > limit else None)

    async def is_processed(self, tracking: Tracking) -> bool:
        return _tracking_pk(tracking) in self._tracking

    async def session_ids(self, *, page_size: int = 1000) -> list[str]:
        return sorted(self._heads)

    async def _get_item(self, key: ViewKey) -> dict[str, Value] | None:
        item = self.stored_views.get(key)
        return dict(item) if item is not None else None

    async def _query_items(self, pk: str, sk_prefix: str) -> list[dict[str, Value]]:
        return [
            dict(v) for k, v in sorted(self.stored_views.items()) if k.pk == pk and k.sk.startswith(sk_prefix)
        ]

    async def _apply_views(self, updates: Sequence[ViewUpdate]) -> None:
        for u in updates:
            item = apply(self.stored_views.get(u.key), u)
            if item is None:
                self.stored_views.pop(u.key, None)
            else:
                self.stored_views[u.key] = item

    async def _replace_views(
        self, items: Mapping[ViewKey, dict[str, Value]], stale: Sequence[ViewKey]
    ) -> None:
        async with self._lock:  # as a commit's: no commit lands half-way
            for k in stale:
                self.stored_views.pop(k, None)
            self.stored_views.update({k: dict(v) for k, v in items.items()})


# ----------------------------------------------------------------------------------------- DynamoDB


class DynamoEventLog(EventLog):
    """The log on two DynamoDB tables: ``events`` (streams, id guards, tracking; its DynamoDB stream
    feeds the relay) and ``views`` (read models)."""

    def __init__(self, client: DynamoDBClient, *, events_table: str, views_table: str) -> None:
        self.client = client
        self.events_table = events_table
        self.views_table = views_table

    @classmethod
    def of(cls, clients: Clients) -> DynamoEventLog:
        """The log on the tables ``clients``' settings name."""
        names = clients.settings.names
        return cls(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)

    async def _reserve(self, session_id: str, n: int) -> int:
        """Reserve ``n`` sequence numbers; returns the first."""
        r = await self.client.update_item(
            TableName=self.events_table,
            Key={"pk": {"S": stream_pk(session_id)}, "sk": {"N": "0"}},
            UpdateExpression="ADD #n :n SET kind = :k",
            ExpressionAttributeNames={"#n": "next"},
            ExpressionAttributeValues={":n": {"N": str(n)}, ":k": {"S": "head"}},
            ReturnValues="UPDATED_NEW",
        )
        last = int(r["Attributes"]["next"]["N"])
        return last - n + 1

    async def commit(
        self,
        events: Sequence[AnyEvent],
        *,
        tracking: Tracking | None = None,
        views: Sequence[ViewUpdate] = (),
        expect: Sequence[ViewExpectation] = (),
        session: str | None = None,
    ) -> list[AnyEvent]:
        check = _must_exist(session, events, views)
        for attempt in range(RESERVATIONS):
            try:
                return await self._commit_once(events, tracking, views, expect, check)
            except _SequenceTaken:  # a later-reserved commit landed first, or a slot is taken: again,
                await anyio.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
        raise LogError(f"could not commit in sequence order after {RESERVATIONS} reservations")

    async def _commit_once(
        self,
        events: Sequence[AnyEvent],
        tracking: Tracking | None,
        views: Sequence[ViewUpdate],
        expect: Sequence[ViewExpectation],
        check: str | None,
    ) -> list[AnyEvent]:
        per_stream: dict[str, int] = {}
        for e in events:
            per_stream[e.sessionid] = per_stream.get(e.sessionid, 0) + 1
        first = {sid: await self._reserve(sid, n) for sid, n in per_stream.items()}
        #: each stream's COUNTERS item, and the first sequence this commit holds there
        first_seq = {projections.counters_key(sid): seq for sid, seq in first.items()}
        stamped: list[AnyEvent] = []
        for e in events:
            seq = first[e.sessionid]
            first[e.sessionid] += 1
            stamped.append(msgspec.structs.replace(e, sequence=seq))
        updates, read = await self._count_pending(commit_updates(stamped, views), expect)
        expected = {x.key: x.version for x in expect}
        unwritten = [(k, v) for k, v in expected.items() if k not in {u.key for u in updates}]
        _check_size(stamped, updates, (tracking is not None) + (check is not None) + len(unwritten))

        items: list[TransactWriteItemTypeDef] = []
        for e in stamped:
            items.append(
                put_new(
                    self.events_table,
                    stream_pk(e.sessionid),
                    e.sequence,
                    "event",
                    {
                        "id": e.id,
                        "source": e.source,
                        "type": type(e).type_name(),
                        "family": type(e).family(),
                        "time": e.time.isoformat(),
                        "envelope": self.catalogue.encode(e).decode(),
                    },
                )
            )
            items.append(
                put_new(
                    self.events_table, _event_guard_pk(e), 0, "guard", {"stream": e.sessionid}, seq=e.sequence
                )
            )
        tracking_index = -1
        if tracking:
            tracking_index = len(items)
            items.append(
                put_new(
                    self.events_table, _tracking_pk(tracking), 0, "tracking", {"consumer": tracking.consumer}
                )
            )
        updates_index = len(items)
        conditions: dict[ViewKey, list[Condition]] = {}
        for k, seq in first_seq.items():  # with an expectation too, a failure is ClaimTaken: decide again
            conditions.setdefault(k, []).append(projections.counters_in_order(seq))
        for k, version in [*read.items(), *expected.items()]:  # a PENDING# item counted as read: again
            conditions.setdefault(k, []).append(ViewExpectation(k, version).condition())
        again_keys = {k for k in first_seq if k not in expected} | set(read)
        written, again = view_items(self.views_table, updates, conditions, again_keys, updates_index)
        items += written
        items += [
            condition_check(self.views_table, k, ViewExpectation(k, v).condition()) for k, v in unwritten
        ]
        check_index = len(items)
        if check is not None:  # its META, one more item (its head above may be new: a gap, no events)
            items.append(condition_check(self.views_table, projections.meta_key(check), (EXISTS, {}, {})))
        if not items:
            return []
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(is_transient),
                stop=stop_after_attempt(8),
                wait=wait_random_exponential(multiplier=0.02, max=1.0),
                reraise=True,
            ):
                with attempt:
                    await self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons", [])
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if tracking_index in failed:
                raise AlreadyProcessed(tracking.key if tracking else "") from None
            if any(i % 2 == 1 for i in failed if i < 2 * len(stamped)):
                raise DuplicateEvent(f"an event id is already in the log: {sorted(failed)}") from None
            if check is not None and check_index in failed:
                raise UnknownSession(f"session {check} does not exist") from None
            if any(updates_index <= i < check_index and i not in again for i in failed):
                raise ClaimTaken(f"claimed or expected read-model items moved on: {sorted(failed)}") from None
            if failed:  # a slot taken, or a later-reserved commit landed first
                raise _SequenceTaken() from None
            raise
        _committed()
        return stamped

    async def read(self, session_id: str, *, after: int = 0, limit: int = 100) -> Page:
        r = await self.client.query(
            TableName=self.events_table,
            KeyConditionExpression="pk = :pk AND sk > :after",
            ExpressionAttributeValues={":pk": {"S": stream_pk(session_id)}, ":after": {"N": str(after)}},
            Limit=limit,
            ConsistentRead=True,
        )
        events = [self.catalogue.decode(i["envelope"]["S"]) for i in r.get("Items", [])]
        more = "LastEvaluatedKey" in r and len(events) == limit
        return Page(events=events, next_after=events[-1].sequence if more and events else None)

    async def read_between(self, session_id: str, after: int, upto: int) -> list[AnyEvent]:
        # by key (a BatchGetItem), not a Query: the emulator's Query walks the whole table
        keys = [{"pk": {"S": stream_pk(session_id)}, "sk": {"N": str(n)}} for n in range(after + 1, upto + 1)]
        found = await get_many(self.client, self.events_table, keys)
        return sorted((self.catalogue.decode(i["envelope"]["S"]) for i in found), key=lambda e: e.sequence)

    async def is_processed(self, tracking: Tracking) -> bool:
        r = await self.client.get_item(
            TableName=self.events_table,
            Key={"pk": {"S": _tracking_pk(tracking)}, "sk": {"N": "0"}},
            ConsistentRead=True,
        )
        return "Item" in r

    async def session_ids(self, *, page_size: int = 1000) -> list[str]:
        found: set[str] = set()
        paginator = self.client.get_paginator("scan")
        async for page in paginator.paginate(
            TableName=self.events_table,
            # a stream's head (sk 0, kind "head") holds its sequence counter: one per session
            FilterExpression="begins_with(pk, :stream) AND #kind = :head",
            ExpressionAttributeNames={"#kind": "kind"},
            ExpressionAttributeValues={":stream": {"S": stream_pk("")}, ":head": {"S": "head"}},
            ProjectionExpression="pk",
            ConsistentRead=True,
            PaginationConfig={"PageSize": page_size},
        ):
            found.update(i["pk"]["S"].removeprefix(stream_pk("")) for i in page.get("Items", []))
        return sorted(found)

    async def _get_item(self, key: ViewKey) -> dict[str, Value] | None:
        r = await self.client.get_item(
            TableName=self.views_table, Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}}, ConsistentRead=True
        )
        item = r.get("Item")
        return from_item(item) if item else None

    async def _get_items(self, keys: Sequence[ViewKey]) -> list[dict[str, Value]]:
        wanted = [{"pk": {"S": k.pk}, "sk": {"S": k.sk}} for k in dict.fromkeys(keys)]
        return [from_item(item) for item in await get_many(self.client, self.views_table, wanted)]

    async def _query_items(self, pk: str, sk_prefix: str) -> list[dict[str, Value]]:
        out: list[dict[str, Value]] = []
        kw: dict[str, Any] = {
            "TableName": self.views_table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)" if sk_prefix else "pk = :pk",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                **({":p": {"S": sk_prefix}} if sk_prefix else {}),
            },
            "ConsistentRead": True,
        }
        paginator = self.client.get_paginator("query")
        async for page in paginator.paginate(**kw):
            out.extend(from_item(i) for i in page.get("Items", []))
        return out

    async def _replace_views(
        self, items: Mapping[ViewKey, dict[str, Value]], stale: Sequence[ViewKey]
    ) -> None:
        requests: list[Any] = [{"PutRequest": {"Item": to_item(item)}} for item in items.values()]
        requests += [{"DeleteRequest": {"Key": {"pk": {"S": k.pk}, "sk": {"S": k.sk}}}} for k in stale]
        for i in range(0, len(requests), 25):  # BatchWriteItem's limit
            batch: Any = {self.views_table: requests[i : i + 25]}
            while batch:  # what DynamoDB did not get to is sent again
                r = await self.client.batch_write_item(RequestItems=batch)
                batch = r.get("UnprocessedItems") or None
