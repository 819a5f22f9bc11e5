"""The Lambda adapter: an SQS batch in, partial batch failures out, the same ``Processor`` inside.

One event loop and one set of AWS clients live as long as the Lambda execution environment, so warm
invocations reuse connections. A record that fails is reported in ``batchItemFailures`` and SQS
redelivers it alone; on its last receive it is given up (``shoebox.message.failed``) and moved to the DLQ.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio

from shared.events import telemetry
from shared.events.aws import Clients
from shared.events.config import Settings
from shared.events.log import DynamoEventLog
from shared.events.runtime import (
    DeadLetterSweeper,
    PoisonMessage,
    Processor,
    Service,
    move_to_dead_letters,
)
from shared.events.topology import MAX_RECEIVE_COUNT

T = TypeVar("T")
_runner: asyncio.Runner | None = None
_clients: Clients | None = None


def run_in_lambda_loop(coro: Coroutine[Any, Any, T]) -> T:
    global _runner
    if _runner is None:
        _runner = asyncio.Runner()
    return _runner.run(coro)


async def lambda_clients() -> Clients:
    global _clients
    if _clients is None:
        settings = Settings.from_env()
        telemetry.setup_from(settings, "lambda")
        _clients = await Clients(settings).__aenter__()
    return _clients


async def handle_sqs_batch(
    processor: Processor,
    clients: Clients,
    event: Mapping[str, Any],
    *,
    dead_letter_queue_url: str,
    concurrency: int,
) -> dict[str, Any]:
    """Handle every record of one SQS batch; return the ones SQS must redeliver."""
    failures: list[dict[str, str]] = []
    limiter = anyio.Semaphore(max(concurrency, 1))

    async def one(record: Mapping[str, Any]) -> None:
        async with limiter:
            body = record.get("body", "")
            message_id = record.get("messageId", "")
            count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            try:
                await processor.process(body)
            except Exception as exc:
                if isinstance(exc, PoisonMessage) or count >= MAX_RECEIVE_COUNT:
                    queue = record.get("eventSourceARN", "").rsplit(":", 1)[-1]
                    await processor.give_up(
                        body,
                        error=exc,
                        message_id=message_id,
                        receive_count=count,
                        queue=queue,
                        dead_letter_queue=dead_letter_queue_url.rsplit("/", 1)[-1],
                    )
                    await move_to_dead_letters(clients.sqs, dead_letter_queue_url, body)
                    return  # handled: reported as success so SQS deletes it from the source queue
                failures.append({"itemIdentifier": message_id})

    async with anyio.create_task_group() as tg:
        for record in event.get("Records", []):
            tg.start_soon(one, record)
    return {"batchItemFailures": failures}


def make_sqs_handler(
    build: Callable[[Clients], Service],
) -> Callable[[Mapping[str, Any], object], dict[str, Any]]:
    """The Lambda function for a service: ``handler = make_sqs_handler(build_service)``."""
    state: dict[str, Any] = {}

    async def handle(event: Mapping[str, Any]) -> dict[str, Any]:
        clients = await lambda_clients()
        if "processor" not in state:
            service = build(clients)
            names = clients.settings.names
            log = DynamoEventLog(
                clients.dynamodb, events_table=names.events_table, views_table=names.views_table
            )
            state["processor"] = Processor(service, log)
            dlq = await clients.sqs.get_queue_url(QueueName=names.dead_letter_queue(service.name))
            state["dlq"] = dlq["QueueUrl"]
        processor: Processor = state["processor"]
        return await handle_sqs_batch(
            processor,
            clients,
            event,
            dead_letter_queue_url=state["dlq"],
            concurrency=processor.service.consumer.concurrency,
        )

    def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
        return run_in_lambda_loop(handle(event))

    return handler


#: receives one scheduled sweep makes at most (10 messages each)
SWEEP_BATCHES = 50


def make_dead_letter_sweeper(
    build: Callable[[Clients], Service],
) -> Callable[[Mapping[str, Any], object], dict[str, Any]]:
    """The scheduled Lambda function that sweeps a service's DLQ (``DeadLetterSweeper``): messages the
    redrive moved there without an outcome are given up, so their failure is on record."""
    state: dict[str, Any] = {}

    async def handle() -> dict[str, Any]:
        clients = await lambda_clients()
        if "sweeper" not in state:
            service = build(clients)
            names = clients.settings.names
            log = DynamoEventLog(
                clients.dynamodb, events_table=names.events_table, views_table=names.views_table
            )
            queue = await clients.sqs.get_queue_url(QueueName=names.queue(service.name))
            dlq = await clients.sqs.get_queue_url(QueueName=names.dead_letter_queue(service.name))
            state["sweeper"] = DeadLetterSweeper(
                Processor(service, log),
                clients.sqs,
                queue_url=queue["QueueUrl"],
                dead_letter_queue_url=dlq["QueueUrl"],
            )
        sweeper: DeadLetterSweeper = state["sweeper"]
        recorded = 0
        for _ in range(SWEEP_BATCHES):
            before = sweeper.seen
            recorded += await sweeper.sweep()
            if sweeper.seen == before:
                break
        return {"recorded": recorded}

    def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
        return run_in_lambda_loop(handle())

    return handler
