"""The embedded emulator keeps no copy of what it answers (moto's dashboard list of every model instance).

Every DynamoDB ``Query`` deep-copies the items it returns; stock moto 5.2.5 appends each copy to
``Item.instances_tracked`` for ever, which held 16 GiB after a 1,000-photo run with 20 status pollers
(docs/benchmarks.md, "Scale"). ``deploy/local/moto_patches.py`` makes model instances untracked."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import boto3
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item

from deploy.local import moto_patches


def _table(client: Any) -> None:
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(50):
        client.put_item(TableName="t", Item={"pk": {"S": "s"}, "sk": {"S": f"f{i:03}"}, "n": {"N": str(i)}})


def _query(client: Any) -> list[Any]:
    items: list[Any] = client.query(
        TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "s"}}
    )["Items"]
    return items


def test_queries_leave_no_item_behind_in_the_emulator() -> None:
    moto_patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client)
        tracked = len(getattr(Item, "instances_tracked", []))
        for _ in range(10):
            assert len(_query(client)) == 50
        assert len(getattr(Item, "instances_tracked", [])) == tracked  # stock moto: + 500 copies


def test_a_replaced_object_is_freed() -> None:
    from moto.s3.models import s3_backends

    moto_patches.apply()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket-one")
        s3.put_object(Bucket="bucket-one", Key="k", Body=b"first")
        first = weakref.ref(s3_backends["123456789012"]["aws"].buckets["bucket-one"].keys["k"])
        s3.put_object(Bucket="bucket-one", Key="k", Body=b"second")
        gc.collect()
        assert first() is None  # stock moto: kept in FakeKey.instances_tracked
        assert s3.get_object(Bucket="bucket-one", Key="k")["Body"].read() == b"second"
