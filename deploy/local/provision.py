"""Provision every bucket, table, queue, bus and rule of the embedded stack from the topology.

Idempotent: running it on a provisioned emulator changes nothing. The same ``Topology.describe`` drives
Terraform (``deploy/terraform``), so the two cannot disagree about what exists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from botocore.exceptions import ClientError

from shared.runtime.aws import Clients
from shared.runtime.config import Names
from shared.runtime.topology import MAX_RECEIVE_COUNT, Consumer, Topology

log = logging.getLogger("shoebox.provision")
ROOT = Path(__file__).resolve().parents[2]


class Provisioned(dict[str, str]):
    """Queue URLs by queue name, and state machine ARNs by name."""


def _exists(exc: ClientError, *codes: str) -> bool:
    return exc.response.get("Error", {}).get("Code") in codes


async def provision(clients: Clients, topology: Topology, *, cors_origins: Sequence[str] = ()) -> Provisioned:
    """Create what ``topology`` needs (what exists is kept). ``cors_origins``: the origins whose pages may
    use the media bucket from a browser (the upload page's); none, no CORS rule."""
    names = clients.settings.names
    out = Provisioned()
    await _tables(clients, names)
    await _bucket(clients, names, cors_origins)
    try:
        await clients.events.create_event_bus(Name=names.bus)
    except ClientError as exc:
        if not _exists(exc, "ResourceAlreadyExistsException"):
            raise
    for consumer in topology.consumers:
        out.update(await _consumer(clients, names, consumer))
    for sm in topology.state_machines:
        out[names.state_machine(sm.name)] = await _state_machine(
            clients, names, sm.name, ROOT / sm.definition
        )
    return out


async def _tables(clients: Clients, names: Names) -> None:
    ddb = clients.dynamodb
    specs: list[dict[str, Any]] = [
        {
            "TableName": names.events_table,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        },
        {
            "TableName": names.views_table,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    ]
    for spec in specs:
        try:
            await ddb.create_table(**spec)
        except ClientError as exc:
            if not _exists(exc, "ResourceInUseException"):
                raise


async def _bucket(clients: Clients, names: Names, cors_origins: Sequence[str]) -> None:
    s3 = clients.s3
    try:
        await s3.create_bucket(Bucket=names.media_bucket)
    except ClientError as exc:
        if not _exists(exc, "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    await s3.put_bucket_notification_configuration(
        Bucket=names.media_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    if not cors_origins:
        await s3.delete_bucket_cors(Bucket=names.media_bucket)
    else:
        # the upload page's origin(s) only (it PUTs to presigned URLs and reads each part's ETag); any
        # other page gets no CORS headers, so a browser shows it nothing the bucket answers
        await s3.put_bucket_cors(
            Bucket=names.media_bucket,
            CORSConfiguration={
                "CORSRules": [
                    {
                        "AllowedMethods": ["GET", "PUT", "HEAD"],
                        "AllowedOrigins": list(cors_origins),
                        "AllowedHeaders": ["*"],
                        "ExposeHeaders": ["ETag"],
                        "MaxAgeSeconds": 3600,
                    }
                ]
            },
        )
    await s3.put_bucket_lifecycle_configuration(
        Bucket=names.media_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort-stale-multipart",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                },
                {
                    "ID": "expire-sessions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": 7},
                },
            ]
        },
    )


async def _queue(clients: Clients, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    r = await clients.sqs.create_queue(QueueName=name, Attributes=attributes)  # type: ignore[arg-type]
    url = r["QueueUrl"]
    attrs = await clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attrs["Attributes"]["QueueArn"]


async def _consumer(clients: Clients, names: Names, consumer: Consumer) -> dict[str, str]:
    dlq_name, q_name = names.dead_letter_queue(consumer.service), names.queue(consumer.service)
    dlq_url, dlq_arn = await _queue(clients, dlq_name, {"MessageRetentionPeriod": str(14 * 24 * 3600)})
    q_url, q_arn = await _queue(
        clients,
        q_name,
        {
            "VisibilityTimeout": str(consumer.visibility_timeout_s),
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            ),
        },
    )
    await clients.sqs.set_queue_attributes(
        QueueUrl=q_url,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": q_arn,
                        }
                    ],
                }
            )
        },
    )
    for rule in consumer.rules(names):
        bus = rule.bus
        await clients.events.put_rule(
            Name=rule.name, EventBusName=bus, EventPattern=json.dumps(rule.pattern), State="ENABLED"
        )
        await clients.events.put_targets(
            Rule=rule.name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": q_arn}]
        )
    return {q_name: q_url, dlq_name: dlq_url}


async def _state_machine(clients: Clients, names: Names, name: str, definition: Path) -> str:
    full = names.state_machine(name)
    asl = await anyio.Path(definition).read_text()
    role = "arn:aws:iam::123456789012:role/shoebox-local-saga"
    existing = {
        m["name"]: m["stateMachineArn"] for m in (await clients.sfn.list_state_machines())["stateMachines"]
    }
    if full in existing:
        await clients.sfn.update_state_machine(stateMachineArn=existing[full], definition=asl)
        return existing[full]
    r = await clients.sfn.create_state_machine(name=full, definition=asl, roleArn=role, type="STANDARD")
    return r["stateMachineArn"]
