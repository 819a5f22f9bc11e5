"""aiobotocore clients built the same way for AWS, the embedded emulator and LocalStack."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session
from botocore.config import Config

from shared.runtime.config import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodbstreams import DynamoDBStreamsClient
    from types_aiobotocore_events import EventBridgeClient
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_stepfunctions import SFNClient

_COMMON: dict[str, Any] = {
    "signature_version": "s3v4",
    "inject_host_prefix": False,
    "retries": {"mode": "standard", "max_attempts": 5},
    "max_pool_connections": 64,
}
#: a custom endpoint (the emulator) takes path-style S3 URLs: its host is not the bucket's
_ENDPOINT_CONFIG = Config(**_COMMON, s3={"addressing_style": "path"})
#: on AWS, virtual-hosted URLs on the region's endpoint (``<bucket>.s3.<region>.amazonaws.com``): AWS's
#: recommended style, and the bucket's own host, which is all the page's CSP lets it reach
#: (``services/api/page.py`` ``storage_origins``)
_AWS_CONFIG = Config(**_COMMON, s3={"addressing_style": "virtual"})


def client_kwargs(settings: Settings) -> dict[str, Any]:
    aws = settings.aws
    config = _ENDPOINT_CONFIG if aws.endpoint else _AWS_CONFIG
    kw: dict[str, Any] = {"region_name": aws.region, "config": config}
    if aws.endpoint:
        kw["endpoint_url"] = aws.endpoint
        # no well-known fallback (it was ``testing``/``testing``): the embedded stack's emulator accepts
        # only its own credentials, which the stack puts in the settings; unset, botocore's usual chain
        if aws.access_key_id and aws.secret_access_key:
            kw["aws_access_key_id"] = aws.access_key_id
            kw["aws_secret_access_key"] = aws.secret_access_key
    return kw


class Clients:
    """The AWS clients one process uses, opened once and closed together."""

    s3: S3Client
    sqs: SQSClient
    dynamodb: DynamoDBClient
    streams: DynamoDBStreamsClient
    events: EventBridgeClient
    sfn: SFNClient

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Clients:
        session = get_session()
        kw = client_kwargs(self.settings)
        enter = self._stack.enter_async_context
        self.s3 = await enter(session.create_client("s3", **kw))
        self.sqs = await enter(session.create_client("sqs", **kw))
        self.dynamodb = await enter(session.create_client("dynamodb", **kw))
        self.streams = await enter(session.create_client("dynamodbstreams", **kw))
        self.events = await enter(session.create_client("events", **kw))
        self.sfn = await enter(session.create_client("stepfunctions", **kw))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


@contextlib.asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[Clients]:
    async with Clients(settings) as clients:
        yield clients
