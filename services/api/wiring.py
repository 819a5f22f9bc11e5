"""What the HTTP app is given to work with: the event log, the object store (with its presigned URLs and
multipart uploads), the saga starter and the api's command queue. On AWS (and the embedded stack) they are
built from open AWS clients; tests give the app their twins in memory.

``create_app`` takes the collaborators themselves (the embedded stack's, built on its clients; the tests'
in memory) or an ``Opener`` that opens them around the app's lifespan: ``per_lifespan`` (uvicorn on its
own: the clients live as long as the server) or ``once_per_process`` (Lambda, where the adapter runs the
lifespan around every invocation: the first opens the clients, warm invocations reuse them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import msgspec

from services.api.topology import CONSUMER
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.log import DynamoEventLog, EventLog, InMemoryEventLog
from shared.runtime.sagas import (
    CommandQueue,
    InMemoryCommandQueue,
    InMemorySagaStarter,
    SagaStarter,
    SqsCommandQueue,
    StepFunctionsSagaStarter,
)
from shared.runtime.storage import InMemoryObjectStore, ObjectStore, S3ObjectStore


class Collaborators(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the routes reach beyond the request."""

    log: EventLog
    store: ObjectStore
    sagas: SagaStarter
    #: where the api's sagas send their commands (the api's consumer reads them)
    commands: CommandQueue

    @classmethod
    def in_memory(cls, settings: Settings) -> Collaborators:
        """The twins, empty: a log, a store (the settings' bucket), a starter that records executions."""
        return cls(
            log=InMemoryEventLog(),
            store=InMemoryObjectStore(settings.names.media_bucket),
            sagas=InMemorySagaStarter(),
            commands=InMemoryCommandQueue(),
        )


def on_aws(clients: Clients) -> Collaborators:
    """The collaborators on the AWS resources ``clients``' settings name."""
    names = clients.settings.names
    return Collaborators(
        log=DynamoEventLog.of(clients),
        store=S3ObjectStore(clients.s3, names.media_bucket),
        sagas=StepFunctionsSagaStarter(
            clients.sfn, names, arn_prefix=clients.settings.aws.state_machine_arn_prefix
        ),
        commands=SqsCommandQueue(clients.sqs, names, CONSUMER.service),
    )


#: opens the collaborators for one lifespan of the app
Opener = Callable[[], AbstractAsyncContextManager[Collaborators]]


def per_lifespan(settings: Settings) -> Opener:
    """AWS clients opened when the app starts and closed when it stops."""

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Collaborators]:
        async with Clients(settings) as clients:
            yield on_aws(clients)

    return opened


def once_per_process(settings: Settings) -> Opener:
    """AWS clients opened by the first lifespan and kept for the process (closed with it): Lambda, where
    every invocation is a lifespan and warm ones should reuse the connections. Clients are bound to the
    event loop they were opened on, so a new loop opens new ones."""
    kept: dict[asyncio.AbstractEventLoop, Collaborators] = {}

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Collaborators]:
        loop = asyncio.get_running_loop()
        if loop not in kept:
            kept.clear()  # the old loop's clients cannot be used on this one
            kept[loop] = on_aws(await Clients(settings).__aenter__())
        yield kept[loop]

    return opened
