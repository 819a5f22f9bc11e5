"""The embedded emulator keeps what it was told across a kill -9 (docs/persistence.md): DynamoDB items and
the stream's records (numbered on from where they were), S3 objects (newest bytes, content type, ETag),
SQS messages (in flight at the kill: delivered again; deleted: gone; dead letters: still dead), multipart
uploads in progress, with object bodies in files of the state folder, not in the emulator's memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from deploy.local.emulator import Emulator, control, free_port
from deploy.local.emulator_store import BODIES

pytestmark = pytest.mark.stack

BUCKET, TABLE, QUEUE, DLQ = "media", "events", "work", "work-dlq"
MIB = 1024 * 1024


@contextlib.contextmanager
def emulator(state: Path, log: Path) -> Iterator[Emulator]:
    em = Emulator(free_port(), state_dir=str(state), log_path=str(log))
    em.start()
    try:
        yield em
    finally:
        em.stop()


class Aws:
    """Sync clients on one emulator, and the resources a test uses, created as provisioning does."""

    def __init__(self, em: Emulator) -> None:
        kw: dict[str, Any] = {
            "endpoint_url": em.endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": em.credentials.access_key_id,  # the only ones the emulator accepts
            "aws_secret_access_key": em.credentials.secret_access_key,
            "config": Config(s3={"addressing_style": "path"}),
        }
        self.s3 = boto3.client("s3", **kw)
        self.ddb = boto3.client("dynamodb", **kw)
        self.streams = boto3.client("dynamodbstreams", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.s3.create_bucket(Bucket=BUCKET)
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        self.dlq = self.sqs.create_queue(QueueName=DLQ)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.queue = self.sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
            },
        )["QueueUrl"]

    def items(self) -> list[dict[str, Any]]:
        return sorted(self.ddb.scan(TableName=TABLE)["Items"], key=lambda i: int(i["sk"]["N"]))

    def stream(self) -> list[dict[str, Any]]:
        arn = self.ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records: list[dict[str, Any]] = self.streams.get_records(ShardIterator=it["ShardIterator"])["Records"]
        return [
            {
                "event": r["eventName"],
                "sequence": r["dynamodb"]["SequenceNumber"],
                "keys": r["dynamodb"]["Keys"],
            }
            for r in records
        ]

    def receive(self, url: str, *, visibility_s: int = 0) -> list[tuple[str, str]]:
        got = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_s, AttributeNames=["All"]
        ).get("Messages", [])
        return sorted((m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in got)


def _item(sk: int, **values: str) -> dict[str, Any]:
    return {"pk": {"S": "SESSION#s"}, "sk": {"N": str(sk)}, **{k: {"S": v} for k, v in values.items()}}


def test_what_the_emulator_was_told_survives_a_kill(tmp_path: Path) -> None:
    state, log = tmp_path / "emulator", tmp_path / "emulator.log"
    with emulator(state, log) as em:
        aws = Aws(em)
        aws.s3.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=b"a" * 3000, ContentType="image/jpeg")
        aws.s3.put_object(Bucket=BUCKET, Key="uploads/b.png", Body=b"first", ContentType="image/png")
        aws.s3.put_object(Bucket=BUCKET, Key="uploads/b.png", Body=b"second", ContentType="image/png")
        aws.s3.put_object(Bucket=BUCKET, Key="uploads/c.jpg", Body=b"deleted")
        aws.s3.delete_object(Bucket=BUCKET, Key="uploads/c.jpg")
        etag_b = aws.s3.head_object(Bucket=BUCKET, Key="uploads/b.png")["ETag"]

        aws.ddb.put_item(TableName=TABLE, Item=_item(1, kind="event"))
        aws.ddb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "SESSION#s"}, "sk": {"N": "2"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        aws.ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _item(3, kind="tracking")}},
                {"Put": {"TableName": TABLE, "Item": _item(4, kind="event")}},
            ]
        )
        aws.ddb.delete_item(TableName=TABLE, Key={"pk": {"S": "SESSION#s"}, "sk": {"N": "3"}})
        items, stream = aws.items(), aws.stream()

        aws.sqs.send_message(QueueUrl=aws.queue, MessageBody="dead")
        assert aws.receive(aws.queue) == [("dead", "1")]
        assert aws.receive(aws.queue) == [("dead", "2")]  # the next receive moves it to the DLQ
        for body in ("in flight", "deleted", "queued"):
            aws.sqs.send_message(QueueUrl=aws.queue, MessageBody=body)
        received = aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=2, VisibilityTimeout=600)
        by_body = {m["Body"]: m["ReceiptHandle"] for m in received["Messages"]}
        assert set(by_body) == {"in flight", "deleted"}
        aws.sqs.delete_message(QueueUrl=aws.queue, ReceiptHandle=by_body["deleted"])

        os.kill(em.pid or 0, signal.SIGKILL)

    with emulator(state, log) as em:
        aws = Aws(em)  # provisioning again on a fresh emulator: each resource comes back full
        listed = aws.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        assert sorted(o["Key"] for o in listed) == ["uploads/a.jpg", "uploads/b.png"]
        b = aws.s3.get_object(Bucket=BUCKET, Key="uploads/b.png")
        assert (b["Body"].read(), b["ContentType"], b["ETag"]) == (b"second", "image/png", etag_b)
        assert aws.s3.get_object(Bucket=BUCKET, Key="uploads/a.jpg")["Body"].read() == b"a" * 3000

        assert aws.items() == items
        assert aws.stream() == stream  # the relay's checkpoint names these sequence numbers
        aws.ddb.put_item(TableName=TABLE, Item=_item(5, kind="event"))
        after = aws.stream()
        assert len(after) == len(stream) + 1
        assert int(after[-1]["sequence"]) == int(stream[-1]["sequence"]) + 1

        # in flight at the kill: delivered again at once; each receive is counted
        assert aws.receive(aws.queue) == [("in flight", "2"), ("queued", "1")]
        assert aws.receive(aws.dlq) == [("dead", "3")]


def test_bodies_are_files_in_the_state_folder(tmp_path: Path) -> None:
    state, log = tmp_path / "emulator", tmp_path / "emulator.log"
    bodies = state / BODIES
    with emulator(state, log) as em:
        aws = Aws(em)
        aws.s3.put_object(Bucket=BUCKET, Key="k", Body=b"x" * 100_000)
        assert [p.stat().st_size for p in bodies.iterdir()] == [100_000]
        aws.s3.put_object(Bucket=BUCKET, Key="k", Body=b"y" * 10)  # the replaced body's file goes
        assert [p.read_bytes() for p in bodies.iterdir()] == [b"y" * 10]
        aws.s3.delete_object(Bucket=BUCKET, Key="k")
        assert list(bodies.iterdir()) == []

        # a part of an unfinished multipart upload is a file too; a kill keeps the upload and its parts
        upload = aws.s3.create_multipart_upload(Bucket=BUCKET, Key="big", ContentType="video/mp4")["UploadId"]
        first = aws.s3.upload_part(
            Bucket=BUCKET, Key="big", UploadId=upload, PartNumber=1, Body=b"1" * 5 * MIB
        )
        assert len(list(bodies.iterdir())) == 1
        (bodies / "stray").write_bytes(b"a body no row names, as a kill mid-write leaves one")
        os.kill(em.pid or 0, signal.SIGKILL)

    with emulator(state, log) as em:
        aws = Aws(em)
        assert len(list(bodies.iterdir())) == 1  # the stray file is gone, the part is kept
        second = aws.s3.upload_part(Bucket=BUCKET, Key="big", UploadId=upload, PartNumber=2, Body=b"2" * 100)
        aws.s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="big",
            UploadId=upload,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": first["ETag"]},
                    {"PartNumber": 2, "ETag": second["ETag"]},
                ]
            },
        )
        big = aws.s3.get_object(Bucket=BUCKET, Key="big")
        assert (big["Body"].read(), big["ContentType"]) == (b"1" * 5 * MIB + b"2" * 100, "video/mp4")
        assert len(list(bodies.iterdir())) == 1  # the object's; the parts' files went with the upload

        # a reset forgets everything kept: provisioning again brings back nothing
        control(em.endpoint, em.credentials, "POST", "/moto-api/reset").raise_for_status()
        aws = Aws(em)
        assert "Contents" not in aws.s3.list_objects_v2(Bucket=BUCKET)
        assert list(bodies.iterdir()) == []
