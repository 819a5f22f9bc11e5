"""The embedded emulator keeps its state on disk (docs/persistence.md), applied only in its process.

Every change moto makes to what the product needs is written to the ``Store`` in the same call, before the
response goes back: DynamoDB items and stream records (a ``TransactWriteItems`` as one commit), S3 objects
(the body in its own file, the metadata before the ``Object Created`` notification is sent; multipart
uploads in progress with their parts), SQS messages (added, received, deleted). When provisioning creates
a table, the bucket or a queue on a fresh emulator, it is filled from the store right then: nothing replays
requests, so nothing is announced, streamed or delivered twice by the restore itself. Messages come back
visible; receive counts and sent times are kept.

Not kept (re-created or re-driven at start, or not used by the product): the resources' definitions
(provisioning), Step Functions executions (``deploy/local/persistence.py`` starts the running sagas again),
object versions other than the newest, tags and ACLs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
import types
from pathlib import Path
from typing import Any

from deploy.local import moto_patches
from deploy.local.emulator_store import BodyFile, Store, dumps, loads

log = logging.getLogger("shoebox.emulator.persistence")

_installed: Store | None = None


def install(root: Path) -> Store:
    """Keep this process's moto state under ``root`` and restore it as resources are created. Apply
    ``moto_patches`` first (this module takes its lock). Idempotent for one ``root``."""
    global _installed
    if _installed is not None:
        if _installed.root != root:
            raise RuntimeError(f"the emulator already keeps its state in {_installed.root}")
        return _installed
    store = Store(root)
    _dynamodb(store)
    _s3(store)
    _sqs(store)
    _reset(store)
    _installed = store
    return store


def _wrap(cls: Any, name: str, make: Any) -> None:
    original = getattr(cls, name)
    setattr(cls, name, functools.wraps(original)(make(original)))


# ------------------------------------------------------------------------------------------- DynamoDB
class _RestoredRecord:
    """A stream record read back from the store: moto's ``StreamShard`` only calls ``to_json``."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    def to_json(self) -> dict[str, Any]:
        return self.record


def _dynamodb(store: Store) -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodb.models.utilities import dynamo_json_dump

    def key_text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def persist(backend: Any, table_name: str, key: dict[str, Any]) -> None:
        table: Table = backend.get_table(table_name)
        hash_value = key[table.hash_key_attr]
        range_value = key.get(table.range_key_attr) if table.range_key_attr else None
        item = table.get_item(
            DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None
        )
        hk, rk = key_text(hash_value), key_text(range_value) if range_value is not None else ""
        if item is None:
            store.delete_item(table_name, hk, rk)
        else:
            store.put_item(table_name, hk, rk, dynamo_json_dump(item.to_json()["Attributes"]))

    def writes(key_of: Any) -> Any:
        def make(original: Any) -> Any:
            def write(self: Any, table_name: str, arg: Any, *args: Any, **kwargs: Any) -> Any:
                # under the emulator's DynamoDB lock, so the item persisted is the one this call left
                with moto_patches.LOCK, store.transaction():
                    result = original(self, table_name, arg, *args, **kwargs)
                    persist(self, table_name, key_of(self, table_name, arg))
                return result

            return write

        return make

    def key_from_item(backend: Any, table_name: str, item: dict[str, Any]) -> dict[str, Any]:
        table = backend.get_table(table_name)
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {n: item[n] for n in names}

    _wrap(DynamoDBBackend, "put_item", writes(key_from_item))
    _wrap(DynamoDBBackend, "update_item", writes(lambda backend, table_name, key: key))
    _wrap(DynamoDBBackend, "delete_item", writes(lambda backend, table_name, key: key))

    def transact(original: Any) -> Any:
        def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
            with moto_patches.LOCK, store.transaction():  # all of it or none of it on disk
                return original(self, *args, **kwargs)

        return transact_write_items

    _wrap(DynamoDBBackend, "transact_write_items", transact)

    def add(original: Any) -> Any:
        def add_record(self: Any, old: Any, new: Any) -> None:
            position = len(self.items)
            original(self, old, new)
            if len(self.items) == position + 1:  # (a Lambda mapping would have taken them: none here)
                store.add_stream_record(self.table.name, position, dynamo_json_dump(self.items[-1].to_json()))

        return add_record

    _wrap(StreamShard, "add", add)

    def create(original: Any) -> Any:
        def create_table(self: Any, name: str, **kwargs: Any) -> Any:
            table = original(self, name, **kwargs)
            with moto_patches.LOCK:
                _restore_table(store, table)
            return table

        return create_table

    _wrap(DynamoDBBackend, "create_table", create)

    def delete(original: Any) -> Any:
        def delete_table(self: Any, name: str) -> Any:
            table = original(self, name)
            store.drop_table(name)
            return table

        return delete_table

    _wrap(DynamoDBBackend, "delete_table", delete)


def _restore_table(store: Store, table: Any) -> None:
    started = time.perf_counter()
    shard = table.stream_shard
    table.stream_shard = None  # restoring an item is not a change: no stream record
    try:
        items = store.items(table.name)
        for attrs in items:
            table.put_item(loads(attrs))
    finally:
        table.stream_shard = shard
    records = store.stream_records(table.name)
    if shard is not None and records:
        if records[-1][0] != len(records) - 1:  # moto numbers a record by its place: keep the places
            log.warning(
                "table %s: %d stream records missing; the stream restarts after them",
                table.name,
                records[-1][0] + 1 - len(records),
            )
            records = [r for r in records if r[0] > records[-1][0] - len(records)]
        shard.items = [_RestoredRecord(loads(r)) for _, r in records]
    if items or records:
        log.info(
            "table %s: restored %d items, %d stream records in %.1f ms",
            table.name,
            len(items),
            len(records),
            (time.perf_counter() - started) * 1000,
        )


# ------------------------------------------------------------------------------------------------- S3
def _s3(store: Store) -> None:
    from moto.s3 import models
    from moto.s3.models import FakeKey, S3Backend
    from moto.s3.utils import _VersionedKeyStore

    # Every FakeKey's buffer (``tempfile.SpooledTemporaryFile`` in moto: in memory up to
    # MOTO_S3_DEFAULT_KEY_BUFFER_SIZE) becomes a file of its own under the state folder.
    def spooled(*args: Any, **kwargs: Any) -> BodyFile:
        return BodyFile(store, store.new_body())

    models.tempfile = types.SimpleNamespace(SpooledTemporaryFile=spooled)  # type: ignore[attr-defined,assignment]

    def persist(key: Any) -> None:
        buffer = key.__dict__.get("_value_buffer")
        if not isinstance(buffer, BodyFile) or key.bucket_name is None:
            return
        meta = {
            "etag": key.etag.strip('"'),
            "size": key.size,
            "last_modified": key.last_modified.isoformat(),
            "metadata": dict(key.metadata),
            "storage": key.storage_class,
            "version_id": key.__dict__.get("_version_id"),
            "checksum_algorithm": key.checksum_algorithm,
            "checksum_value": key.checksum_value,
            "sequencer": key.__dict__.get(moto_patches.SEQUENCER),
        }
        store.put_object(key.bucket_name, key.name, buffer.body, dumps(meta))

    def setlist(original: Any) -> Any:
        def stored(self: Any, key: Any, list_: Any) -> Any:
            before = self.getlist(key, [])
            result = original(self, key, list_)
            versions = self.getlist(key, [])
            if versions and isinstance(versions[-1], FakeKey):
                persist(versions[-1])  # before put_object announces it: the message never precedes it
            else:
                for gone in before:
                    if isinstance(gone, FakeKey) and gone.bucket_name:
                        store.delete_object(gone.bucket_name, gone.name)
                        break
            return result

        return stored

    _wrap(_VersionedKeyStore, "setlist", setlist)

    def pop(original: Any) -> Any:
        def removed(self: Any, key: Any) -> Any:
            before = self.getlist(key, [])
            result = original(self, key)
            for gone in before:
                if isinstance(gone, FakeKey) and gone.bucket_name:
                    store.delete_object(gone.bucket_name, gone.name)
                    break
            return result

        return removed

    _wrap(_VersionedKeyStore, "pop", pop)

    def set_metadata(original: Any) -> Any:
        # the PUT's Content-Type and x-amz-meta-* are set after the object is stored (and announced)
        def with_metadata(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            buffer = self.__dict__.get("_value_buffer")
            if isinstance(buffer, BodyFile) and store.is_live(buffer.body):
                persist(self)
            return result

        return with_metadata

    _wrap(FakeKey, "set_metadata", set_metadata)

    _multipart(store)

    def create(original: Any) -> Any:
        def create_bucket(self: Any, bucket_name: str, region_name: str, *args: Any, **kwargs: Any) -> Any:
            bucket = original(self, bucket_name, region_name, *args, **kwargs)
            _restore_bucket(store, self, bucket)
            return bucket

        return create_bucket

    _wrap(S3Backend, "create_bucket", create)

    def delete(original: Any) -> Any:
        def delete_bucket(self: Any, bucket_name: str) -> Any:
            result = original(self, bucket_name)
            store.drop_bucket(bucket_name)
            return result

        return delete_bucket

    _wrap(S3Backend, "delete_bucket", delete)


def _multipart(store: Store) -> None:
    """Multipart uploads in progress: the API answered 201 with their id, so they outlive a restart."""
    from moto.s3.models import S3Backend

    def created(original: Any) -> Any:
        def create_multipart_upload(
            self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any
        ) -> Any:
            multipart = original(self, bucket_name, key_name, *args, **kwargs)
            meta = {
                "metadata": dict(multipart.metadata or {}),
                "storage": multipart.storage,
                "tags": multipart.tags,
                "sse_encryption": multipart.sse_encryption,
                "kms_key_id": multipart.kms_key_id,
            }
            store.put_upload(multipart.id, bucket_name, key_name, dumps(meta))
            return multipart

        return create_multipart_upload

    _wrap(S3Backend, "create_multipart_upload", created)

    def part(original: Any) -> Any:
        def with_part(
            self: Any, bucket_name: str, multipart_id: str, part_id: int, *args: Any, **kwargs: Any
        ) -> Any:
            key = original(self, bucket_name, multipart_id, part_id, *args, **kwargs)
            buffer = key.__dict__.get("_value_buffer")
            if isinstance(buffer, BodyFile):
                meta = {"etag": key.etag.strip('"'), "size": key.size}
                store.put_part(multipart_id, int(part_id), buffer.body, dumps(meta))
            return key

        return with_part

    _wrap(S3Backend, "upload_part", part)
    _wrap(S3Backend, "upload_part_copy", part)

    def ended(original: Any) -> Any:
        def end(self: Any, bucket_name: str, multipart_id: str, *args: Any, **kwargs: Any) -> Any:
            result = original(self, bucket_name, multipart_id, *args, **kwargs)
            if multipart_id not in self.get_bucket(bucket_name).multiparts:  # completed (or aborted)
                store.drop_upload(multipart_id)
            return result

        return end

    _wrap(S3Backend, "complete_multipart_upload", ended)
    _wrap(S3Backend, "abort_multipart_upload", ended)


def _restored_key(store: Store, backend: Any, bucket: Any, name: Any, body: str, meta: dict[str, Any]) -> Any:
    """A ``FakeKey`` on a kept body file (an object, or a part of a multipart upload)."""
    from moto.s3.models import FakeKey

    key = FakeKey(
        name=name,
        value=b"",
        account_id=backend.account_id,
        region_name=bucket.region_name,
        bucket_name=bucket.name if isinstance(name, str) else None,
        etag=meta["etag"],
        storage=meta.get("storage"),
        version_id=meta.get("version_id"),
        checksum_value=meta.get("checksum_value"),
    )
    key.__dict__["_value_buffer"].close()  # the empty file of the constructor, never written
    key.__dict__["_value_buffer"] = BodyFile(store, body)
    key.contentsize = meta["size"]
    return key


def _body_intact(store: Store, body: str, size: int) -> bool:
    """A power loss can leave a body file shorter than its row says."""
    path = store.body_path(body)
    return path.exists() and path.stat().st_size == size


def _restore_uploads(store: Store, backend: Any, bucket: Any) -> int:
    from bisect import insort

    from moto.s3.models import FakeMultipart, get_canned_acl
    from moto.s3.utils import metadata_from_headers

    restored = 0
    for upload, key_name, meta_text, parts in store.uploads(bucket.name):
        meta = loads(meta_text)
        metadata = metadata_from_headers({})  # moto's case-insensitive dict, empty
        metadata.update(meta["metadata"])
        multipart = FakeMultipart(
            key_name,
            metadata,
            account_id=backend.account_id,
            region_name=bucket.region_name,
            storage=meta["storage"],
            tags=meta["tags"],
            acl=get_canned_acl("private"),
            sse_encryption=meta["sse_encryption"],
            kms_key_id=meta["kms_key_id"],
        )
        multipart.id = upload  # the id the client holds
        for number, body, part_text in parts:
            part = loads(part_text)
            if not _body_intact(store, body, part["size"]):
                continue  # the client's complete names it and fails: it uploads the part again
            multipart.parts[number] = _restored_key(store, backend, bucket, number, body, part)
            insort(multipart.partlist, number)
        bucket.multiparts[upload] = multipart
        restored += 1
    return restored


def _restore_bucket(store: Store, backend: Any, bucket: Any) -> None:
    started = time.perf_counter()
    restored = dropped = 0
    for name, body, meta_text in store.objects(bucket.name):
        meta = loads(meta_text)
        if not _body_intact(store, body, meta["size"]):
            log.warning("object %s/%s: its body is missing or short; dropped", bucket.name, name)
            store.delete_object(bucket.name, name)
            dropped += 1
            continue
        key = _restored_key(store, backend, bucket, name, body, meta)
        key.last_modified = dt.datetime.fromisoformat(meta["last_modified"])
        key.metadata.update(meta["metadata"])
        key.checksum_algorithm = meta["checksum_algorithm"]
        if meta["sequencer"] is not None:
            key.__dict__[moto_patches.SEQUENCER] = meta["sequencer"]
        dict.__setitem__(bucket.keys, name, [key])  # not setlist: restoring is not a write
        restored += 1
    uploads = _restore_uploads(store, backend, bucket)
    if restored or dropped or uploads:
        log.info(
            "bucket %s: restored %d objects (%d dropped), %d multipart uploads in %.1f ms",
            bucket.name,
            restored,
            dropped,
            uploads,
            (time.perf_counter() - started) * 1000,
        )


# ------------------------------------------------------------------------------------------------ SQS
_MESSAGE_FIELDS = (
    "id",
    "body",
    "message_attributes",
    "system_attributes",
    "sender_id",
    "sent_timestamp",
    "approximate_first_receive_timestamp",
    "approximate_receive_count",
    "deduplication_id",
    "group_id",
    "sequence_number",
)


def _message_data(message: Any) -> str:
    return dumps({f: getattr(message, f) for f in _MESSAGE_FIELDS})


def _sqs(store: Store) -> None:
    from moto.sqs.models import Message, Queue, SQSBackend

    def add(original: Any) -> Any:
        def add_message(self: Any, message: Any) -> None:
            original(self, message)
            if any(m is message for m in reversed(self._messages)):  # a FIFO duplicate is not added
                store.put_message(self.name, message.id, _message_data(message))

        return add_message

    _wrap(Queue, "add_message", add)

    def delete(original: Any) -> Any:
        def delete_message(self: Any, receipt_handle: str) -> None:
            # a receipt handle names one message; moto's own delete already walks the queue twice
            target = next((m for m in self._messages if m.had_receipt_handle(receipt_handle)), None)
            original(self, receipt_handle)
            if target is not None and target not in self._messages:
                store.delete_messages([target.id])

        return delete_message

    _wrap(Queue, "delete_message", delete)

    def receive(original: Any) -> Any:
        def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            result = original(self, queue_name, *args, **kwargs)
            if result:
                by_id = {m.id: m for m in self.get_queue(queue_name)._messages}
                with store.transaction():
                    for copy in result:
                        message = by_id.get(copy.id)
                        if message is not None:
                            store.update_message(message.id, _message_data(message))
            return result

        return receive_message

    _wrap(SQSBackend, "receive_message", receive)

    def emptied(original: Any) -> Any:
        def empty(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            result = original(self, queue_name, *args, **kwargs)
            store.drop_queue(queue_name)
            return result

        return empty

    _wrap(SQSBackend, "purge_queue", emptied)
    _wrap(SQSBackend, "delete_queue", emptied)

    def create(original: Any) -> Any:
        def create_queue(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            existed = name in self.queues
            queue = original(self, name, *args, **kwargs)
            started = time.perf_counter()
            if not existed:
                rows = store.messages(name)
                for text in rows:
                    data = loads(text)
                    message = Message(data["id"], data["body"])
                    for field in _MESSAGE_FIELDS[2:]:
                        setattr(message, field, data[field])
                    queue._messages.append(message)  # visible now: in flight at the kill, delivered again
                if rows:
                    took = (time.perf_counter() - started) * 1000
                    log.info("queue %s: restored %d messages in %.1f ms", name, len(rows), took)
            return queue

        return create_queue

    _wrap(SQSBackend, "create_queue", create)


# ---------------------------------------------------------------------------------------------- reset
def _reset(store: Store) -> None:
    from moto.core.base_backend import BackendDict

    original = BackendDict.reset.__func__  # type: ignore[attr-defined]

    def reset(cls: Any) -> None:
        original(cls)
        store.wipe()  # /moto-api/reset: what provisioning creates next must start empty

    BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]
