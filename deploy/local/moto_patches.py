"""Fixes to moto 5.2.5's DynamoDB writes, applied only in the embedded emulator.

Measured (docs/spine.md, "The embedded emulator"): moto snapshots every table a transaction touches with
``copy.deepcopy`` before writing, once per transaction item, so a commit's cost grows with the size of the
table and its stream (46 ms for a 3-item commit on a fresh table, rising as the log grows). It also rolls a
failed transaction back by putting the snapshot in place, which silently erases every write other
requests made meanwhile (the server is threaded): one cancelled commit among 32 concurrent appenders
can delete the others' events. AWS does neither.

The replacement checks every condition first and writes only if all pass, under one lock, so a failed
transaction writes nothing and touches nobody else's items. Same errors, same CancellationReasons.
Single-item writes take the same lock, so an ``ADD`` counter is atomic as it is in AWS. And EventBridge's
JSONPath expressions are parsed once instead of on every delivery. Model instances are no longer kept for
moto's dashboard (a leak of every item every Query returned), a request's service is looked up once per host
name, not by listing moto's package folder every time, S3 notifications carry real sequencers, and a
multipart upload id answers for its own key only, as in S3.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploy.local.credentials import Credentials

#: serialises the emulator's DynamoDB writes (and what must happen with them: moto_persistence.py)
LOCK = threading.RLock()
#: where a stored object (moto's ``FakeKey``) keeps the sequencer of its notifications
SEQUENCER = "_shoebox_sequencer"
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with LOCK:
            seen: set[tuple[str, str]] = set()
            errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
            plan: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
            for item in transact_items:
                if len(item) > 1:
                    raise TransactWriteSingleOpException
                op_type, op = next(iter(item.items()))
                original: dict[str, Any] | None = None
                try:
                    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                        raise ValueError("Unsupported transaction operation")
                    table_name = op["TableName"]
                    if op_type == "Put":
                        table = self.get_table(table_name)
                        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                        if table.range_key_attr is not None:
                            key[table.range_key_attr] = op["Item"][table.range_key_attr]
                    else:
                        key = op["Key"]
                    unique = (str(table_name), str(dict(sorted(key.items()))))
                    if unique in seen:
                        raise MultipleTransactionsException()
                    seen.add(unique)
                    condition = op.get("ConditionExpression")
                    if condition is not None:
                        current = self.get_item(table_name, key)
                        check = get_filter_expression(
                            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                        )
                        if not check.expr(current):
                            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                                original = current.to_json()["Attributes"]
                            raise ConditionalCheckFailed(item=original)
                    plan.append((op_type, op, table_name, key))
                    errors.append((None, None, None))
                except MockValidationException:
                    raise
                except ConditionalCheckFailed as e:
                    errors.append(("ConditionalCheckFailed", str(e.message), original))
                except Exception as e:
                    errors.append((type(e).__name__, str(e), original))
            if any(code is not None for code, _, _ in errors):
                raise TransactionCanceledException(errors)
            for op_type, op, table_name, key in plan:  # every condition holds: write
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name, key, expression_attribute_names=names, expression_attribute_values=values
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    # Single-item writes are atomic in DynamoDB (an ADD counter never loses an increment); in the threaded
    # server they are only as atomic as the GIL makes them. Serialise them with the transactions.
    # Reads take it too: moto updates an item in place, and an unlocked read could see it half written
    # (keys only), which DynamoDB never shows.
    for name in ("put_item", "update_item", "delete_item", "get_item", "query", "scan"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)

    # EventBridge re-parses its default input template's 8 JSONPath expressions (a PLY parser built from
    # scratch) for every event it delivers to a target: ~3.6 ms of CPU per delivery (docs/benchmarks.md).
    # The parsed expressions are immutable, so parse each one once.
    import functools

    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)  # type: ignore[attr-defined]

    # DynamoDB results are already in the wire format (``{"S": ...}`` maps) when moto wraps them, yet its
    # generic model-driven serializer walks every attribute of every item again: 77 % of the emulator's CPU
    # on a 1,000-item Query (0.4-1.6 s per page, docs/triage.md). JSON-encode them directly instead.
    import json

    from moto.dynamodb.responses import DynamoResult

    original_execute = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if isinstance(self.result, dict):
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):  # binary attributes and the like: the generic path
                return original_execute(self, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original_execute(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]

    _untracked_models()
    _backend_lookup_once()
    _s3_sequencers()
    _s3_multipart_keys()


def _untracked_models() -> None:
    """moto's ``BaseModel.__new__`` appends every model instance it ever makes to its class's
    ``instances_tracked`` list, for the ``/moto-api/data.json`` dashboard, and only a reset clears it. A
    DynamoDB ``Query`` deep-copies every item it returns, so each status poll of a 1,000-file session left
    ~2.5 MiB behind for ever: 16 GiB after a 1,000-photo run with 20 pollers (docs/benchmarks.md, "Scale").
    The same list kept every replaced S3 object alive. Make instances without tracking them: the dashboard
    lists nothing (the stack never uses it), and ``S3Backend.reset`` still disposes of every key through
    its buckets."""
    from moto.core.common_models import BaseModel

    def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)

    BaseModel.__new__ = __new__  # type: ignore[method-assign]


def _backend_lookup_once() -> None:
    """moto's server finds the service of every request with ``get_backend_for_host``, which lists moto's
    package folder (``os.listdir`` and an ``isdir`` per entry, ~200 of them) and tries ~300 URL patterns,
    under one lock that every request takes: 8 of the emulator's 96 CPU seconds on 300 photos with 20
    pollers (docs/benchmarks.md, "Scale"). Its answer depends on the host name alone (derived from the
    request's signing scope), so remember it."""
    import functools

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host

    @functools.lru_cache(maxsize=512)
    def backend_of(app: Any, host: str | None) -> Any:
        return original(app, host)

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        return backend_of(self, host)

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _s3_sequencers() -> None:
    """S3's EventBridge events carry a ``sequencer`` that tells writes of the same key apart (AWS: a hex
    string that grows with each write; the same write announced twice keeps it). moto 5.2.5 sends one
    constant, so a key written A, then B, then A again looks like a redelivery of the first write. Here
    each stored object (moto's ``FakeKey``) gets its own increasing sequencer the first time it is
    announced, in moto's own event (``moto.s3.notifications._send_event_bridge_message``, rewritten)."""
    import copy
    import itertools
    import time

    from moto.core.utils import unix_time
    from moto.s3 import notifications

    counter = itertools.count(1)
    base = time.time_ns()

    def send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        from moto.events.models import events_backends
        from moto.events.utils import _BASE_EVENT_MESSAGE

        with LOCK:
            sequencer = key.__dict__.get(SEQUENCER)
            if sequencer is None:
                sequencer = key.__dict__[SEQUENCER] = f"{base:016X}{next(counter):08X}"
        event = copy.deepcopy(_BASE_EVENT_MESSAGE)
        event["detail-type"] = notifications._detail_type(event_name)
        event["source"] = "aws.s3"
        event["account"] = account_id
        event["time"] = unix_time()
        event["region"] = bucket.region_name
        event["resources"] = [bucket.arn]
        event["detail"] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": {
                "key": key.name,
                "size": key.size,
                "eTag": key.etag.replace('"', ""),
                "version-id": key.version_id,
                "sequencer": sequencer,
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": event_name.split(":")[1],
        }
        try:
            backend = events_backends[account_id][bucket.region_name]
            for bus in backend.event_buses.values():
                for rule in bus.rules.values():
                    rule.send_to_targets(event, transform_input=False)
        except Exception:  # as moto: a failed announcement never fails the write (async in AWS)
            pass

    notifications._send_event_bridge_message = send


def _s3_multipart_keys() -> None:
    """S3 ties a multipart upload id to the key it was created for: UploadPart, ListParts,
    CompleteMultipartUpload and AbortMultipartUpload naming another key answer ``NoSuchUpload``. moto 5.2.5
    looks the upload up by its id alone (``S3Backend.upload_part`` and the others take no key), so a
    completion through another key assembled the upload under its own key, and an abort through any key
    dropped it (a second user could finish or drop someone else's upload: issue 12). Here each of those
    requests is checked against the upload's key first; a completion repeated after it succeeded (S3 and
    moto answer it again) passes when the object under the key is that upload's."""
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.responses import S3Response

    def check(self: Any, query: dict[str, Any], key_name: str, *, completing: bool = False) -> None:
        ids = query.get("uploadId")
        if not ids:
            return
        upload_id = ids[0]
        bucket = self.backend.get_bucket(self.bucket_name)
        upload = bucket.multiparts.get(upload_id)
        if upload is not None and upload.key_name == key_name:
            return
        done = bucket.keys.get(key_name) if completing and upload is None else None
        if done is not None and done.multipart is not None and done.multipart.id == upload_id:
            return
        raise NoSuchUpload(upload_id=upload_id)

    get, put = S3Response._key_response_get, S3Response._key_response_put
    delete, post = S3Response._key_response_delete, S3Response._key_response_post

    def key_get(self: Any, query: dict[str, Any], key_name: str) -> Any:
        check(self, query, key_name)
        return get(self, query, key_name)

    def key_put(self: Any, query: dict[str, Any], key_name: str) -> Any:
        check(self, query, key_name)
        return put(self, query, key_name)

    def key_delete(self: Any, bucket_name: str, query: dict[str, Any], key_name: str) -> Any:
        check(self, query, key_name)
        return delete(self, bucket_name, query, key_name)

    def key_post(
        self: Any, request: Any, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str
    ) -> Any:
        check(self, query, key_name, completing=True)
        return post(self, request, body, bucket_name, query, key_name)

    S3Response._key_response_get = key_get  # type: ignore[method-assign]
    S3Response._key_response_put = key_put  # type: ignore[method-assign]
    S3Response._key_response_delete = key_delete  # type: ignore[method-assign]
    S3Response._key_response_post = key_post  # type: ignore[method-assign]


class _SigningBoto3:
    """Stands for ``boto3`` in moto's Step Functions: its clients sign with the stack's credentials."""

    def __init__(self, boto3: Any, access_key_id: str, secret_access_key: str) -> None:
        self.boto3 = boto3  # moto's own (boto3 comes with moto: the stack's code never imports it)
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key

    def client(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["aws_access_key_id"] = self.access_key_id
        kwargs["aws_secret_access_key"] = self.secret_access_key
        return self.boto3.client(*args, **kwargs)


def sign_service_integrations(credentials: Credentials) -> None:
    """Step Functions' service integrations (the sagas' ``dynamodb:getItem``, ``sqs:sendMessage``) call
    the emulator back over HTTP with boto3 clients moto makes with the fixed keys ``ak``/``sk``, which the
    emulator refuses (``emulator_auth.py``): they sign with the stack's credentials instead."""
    import importlib

    boto_client = importlib.import_module("moto.stepfunctions.parser.asl.utils.boto_client")
    # the module's own name for boto3, which its ``boto_client_for`` calls
    original = getattr(boto_client.boto3, "boto3", boto_client.boto3)  # patched once per credentials
    signing = _SigningBoto3(original, credentials.access_key_id, credentials.secret_access_key)
    setattr(boto_client, "boto3", signing)  # noqa: B010
