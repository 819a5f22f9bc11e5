"""The outbox relay: the log table's DynamoDB stream -> the EventBridge bus.

Services never write to the bus. Every event item committed to the log appears once (or, in the
emulator, sometimes twice) on the table's stream; the relay publishes each new event item, at least once,
and ignores every other record (stream heads, id guards, tracking records, modifications, removals).
An appender that dies right after its transaction loses nothing: the record is already on the stream.

The same ``publish_records`` runs as a Lambda on the stream in AWS (``lambda_handler``, with partial
batch failures) and as ``StreamPoller`` locally, which keeps its position in the views table so a relay
killed between reading and publishing reads the same records again when it restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from tenacity import AsyncRetrying, stop_after_attempt, wait_random_exponential

from shared.runtime.attributes import from_item, to_item
from shared.runtime.config import Settings
from shared.runtime.log import on_commit
from shared.runtime.read_models import RELAY_PK, RelayCheckpoint, decode

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_events import EventBridgeClient
    from types_aiobotocore_events.type_defs import PutEventsRequestEntryTypeDef

log = logging.getLogger("shoebox.relay")

#: PutEvents takes at most 10 entries and 256 KB per call.
MAX_ENTRIES = 10
MAX_BATCH_BYTES = 240_000


class PublishError(Exception):
    """Some entries could not be published after retries."""

    def __init__(self, message: str, first_failed_sequence: str | None) -> None:
        super().__init__(message)
        self.first_failed_sequence = first_failed_sequence


class Outgoing(msgspec.Struct, frozen=True):
    sequence_number: str  # the stream record's, for checkpoints and partial batch failures
    event_id: str
    entry: dict[str, Any]


def outgoing(records: Sequence[Mapping[str, Any]], bus: str) -> list[Outgoing]:
    """The bus entries for the stream records that are new event items; everything else is skipped."""
    out: list[Outgoing] = []
    for rec in records:
        if rec.get("eventName") != "INSERT":
            continue
        ddb = rec.get("dynamodb", {})
        image = ddb.get("NewImage") or {}
        if image.get("kind", {}).get("S") != "event" or "envelope" not in image:
            continue
        out.append(
            Outgoing(
                sequence_number=str(ddb.get("SequenceNumber", "")),
                event_id=image["id"]["S"],
                entry={
                    "Source": image["source"]["S"],
                    "DetailType": image["family"]["S"],
                    "Detail": image["envelope"]["S"],
                    "EventBusName": bus,
                },
            )
        )
    return out


def _batches(items: Sequence[Outgoing]) -> list[list[Outgoing]]:
    batches: list[list[Outgoing]] = []
    cur: list[Outgoing] = []
    size = 0
    for o in items:
        n = len(o.entry["Detail"]) + len(o.entry["DetailType"]) + len(o.entry["Source"])
        if cur and (len(cur) == MAX_ENTRIES or size + n > MAX_BATCH_BYTES):
            batches.append(cur)
            cur, size = [], 0
        cur.append(o)
        size += n
    if cur:
        batches.append(cur)
    return batches


async def publish_records(
    events: EventBridgeClient, bus: str, records: Sequence[Mapping[str, Any]], *, attempts: int = 5
) -> int:
    """Publish the event items among ``records`` in order. Returns how many were published.

    Raises ``PublishError`` naming the first record that could not be published; every record before it
    was published.
    """
    published = 0
    for batch in _batches(outgoing(records, bus)):
        pending = batch
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                wait=wait_random_exponential(multiplier=0.05, max=2),
                reraise=True,
            ):
                with attempt:
                    entries: list[PutEventsRequestEntryTypeDef] = [o.entry for o in pending]  # type: ignore[misc]
                    r = await events.put_events(Entries=entries)
                    results = r.get("Entries", [])
                    failed = [o for o, res in zip(pending, results, strict=False) if res.get("ErrorCode")]
                    if len(results) < len(pending):
                        failed += pending[len(results) :]
                    published += len(pending) - len(failed)
                    if failed:
                        pending = failed
                        raise PublishError(
                            f"{len(failed)} entries failed: {results}", failed[0].sequence_number
                        )
        except Exception as exc:
            first = pending[0].sequence_number if pending else None
            raise PublishError(f"could not publish: {exc}", first) from exc
    return published


# ------------------------------------------------------------------------------------------ Lambda
def lambda_handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:  # pragma: no cover - AWS
    """DynamoDB stream -> bus, in AWS. Returns partial batch failures (ReportBatchItemFailures)."""
    from shared.runtime.lambda_sqs import run_in_lambda_loop

    return run_in_lambda_loop(_lambda_publish(event))


async def _lambda_publish(event: Mapping[str, Any]) -> dict[str, Any]:
    from shared.runtime.lambda_sqs import lambda_clients

    clients = await lambda_clients()
    try:
        await publish_records(clients.events, clients.settings.names.bus, event.get("Records", []))
    except PublishError as exc:
        log.error("relay batch failed: %s", exc)
        return {"batchItemFailures": [{"itemIdentifier": exc.first_failed_sequence}]}
    return {"batchItemFailures": []}


# ------------------------------------------------------------------------------------------- local
class StreamPoller:
    """Polls the log table's stream (the emulator pushes nothing) and publishes what it reads."""

    def __init__(
        self,
        settings: Settings,
        dynamodb: DynamoDBClient,
        streams: DynamoDBStreamsClient,
        events: EventBridgeClient,
        *,
        poll_interval_s: float = 0.25,
    ) -> None:
        self.names = settings.names
        self.dynamodb = dynamodb
        self.streams = streams
        self.events = events
        #: the longest wait between two reads of an idle stream; a commit in this process wakes it at once
        self.poll_interval_s = poll_interval_s
        self._wakeups: set[anyio.Event] = set()
        self.published = 0
        self._stopping = anyio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def _checkpoint(self, shard: str) -> str | None:
        r = await self.dynamodb.get_item(
            TableName=self.names.views_table,
            Key={"pk": {"S": RELAY_PK}, "sk": {"S": shard}},
            ConsistentRead=True,
        )
        item = r.get("Item")
        return decode(from_item(item), RelayCheckpoint).sequence if item else None

    async def _save_checkpoint(self, shard: str, sequence: str) -> None:
        checkpoint = RelayCheckpoint(pk=RELAY_PK, sk=shard, sequence=sequence)
        await self.dynamodb.put_item(
            TableName=self.names.views_table,
            Item=to_item(msgspec.to_builtins(checkpoint)),
        )

    async def _idle(self) -> None:
        wake = anyio.Event()
        self._wakeups.add(wake)
        try:
            with anyio.move_on_after(self.poll_interval_s):
                await wake.wait()
        finally:
            self._wakeups.discard(wake)

    def _wake_all(self) -> None:
        for wake in list(self._wakeups):
            wake.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        loop = asyncio.get_running_loop()

        def committed() -> None:  # may run on another thread (a test's, the portal's): hop to our loop
            loop.call_soon_threadsafe(self._wake_all)

        remove = on_commit(committed)
        try:
            await self._run(task_status=task_status)
        finally:
            remove()

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        table = await self.dynamodb.describe_table(TableName=self.names.events_table)
        stream_arn = table["Table"]["LatestStreamArn"]
        started: set[str] = set()
        async with anyio.create_task_group() as tg:
            task_status.started()
            while not self._stopping.is_set():
                desc = await self.streams.describe_stream(StreamArn=stream_arn)
                for shard in desc["StreamDescription"].get("Shards", []):
                    sid = shard["ShardId"]
                    if sid not in started:
                        started.add(sid)
                        tg.start_soon(self._follow, stream_arn, sid)
                with anyio.move_on_after(10):
                    await self._stopping.wait()
            tg.cancel_scope.cancel()

    async def _follow(self, stream_arn: str, shard: str) -> None:
        while not self._stopping.is_set():
            if await self._follow_from_checkpoint(stream_arn, shard):
                return
            await anyio.sleep(1)  # publishing failed: re-read from the last checkpoint and try again

    async def _follow_from_checkpoint(self, stream_arn: str, shard: str) -> bool:
        """Publish the shard's records until it closes (True) or publishing fails (False)."""
        checkpoint = await self._checkpoint(shard)
        if checkpoint:
            r = await self.streams.get_shard_iterator(
                StreamArn=stream_arn,
                ShardId=shard,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=checkpoint,
            )
        else:
            r = await self.streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )
        iterator: str | None = r["ShardIterator"]
        while iterator and not self._stopping.is_set():
            try:
                page = await self.streams.get_records(ShardIterator=iterator, Limit=1000)
            except Exception:
                log.exception("reading the stream failed; retrying")
                await anyio.sleep(1)
                continue
            records = page.get("Records", [])
            if records:
                try:
                    self.published += await publish_records(self.events, self.names.bus, records)
                except PublishError as exc:
                    log.error("publishing failed, will retry from the last checkpoint: %s", exc)
                    return False
                await self._save_checkpoint(shard, str(records[-1]["dynamodb"]["SequenceNumber"]))
            iterator = page.get("NextShardIterator")
            if not records:
                await self._idle()
        return True
