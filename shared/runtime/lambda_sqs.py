"""The Lambda adapter: an SQS batch in, partial batch failures out, the same ``Processor`` inside.

One event loop and one set of AWS clients live as long as the Lambda execution environment, so warm
invocations reuse connections. A record that fails is reported in ``batchItemFailures`` and SQS
redelivers it alone; on its last receive it is given up (``shoebox.message.failed``) and moved to the DLQ.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio
import msgspec

from shared.runtime import telemetry
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.dead_letters import DeadLetterSweeper, give_up_to_dead_letters, gives_up
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import Processor
from shared.runtime.service import Service

log = logging.getLogger("shoebox.runtime")
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
                if not gives_up(exc, count):
                    failures.append({"itemIdentifier": message_id})
                    return
                try:
                    await give_up_to_dead_letters(
                        processor,
                        clients.sqs,
                        body,
                        error=exc,
                        message_id=message_id,
                        receive_count=count,
                        queue=record.get("eventSourceARN", "").rsplit(":", 1)[-1],
                        dead_letter_queue_url=dead_letter_queue_url,
                    )
                except Exception:  # not on record: this record alone comes back, not its batch
                    log.exception("could not give message %s up; it will be redelivered", message_id)
                    failures.append({"itemIdentifier": message_id})
                # otherwise handled: reported as success, so SQS deletes it from the source queue

    async with anyio.create_task_group() as tg:
        for record in event.get("Records", []):
            tg.start_soon(one, record)
    return {"batchItemFailures": failures}


class _Wired(msgspec.Struct):
    """A service's processor and its queues, made once per Lambda execution environment."""

    processor: Processor
    queue_url: str
    dead_letter_queue_url: str


async def _wire(build: Callable[[Clients], Service], state: dict[str, _Wired]) -> tuple[Clients, _Wired]:
    clients = await lambda_clients()
    if "wired" not in state:
        service = build(clients)
        names = clients.settings.names
        queue = await clients.sqs.get_queue_url(QueueName=names.queue(service.name))
        dlq = await clients.sqs.get_queue_url(QueueName=names.dead_letter_queue(service.name))
        state["wired"] = _Wired(
            Processor(service, DynamoEventLog.of(clients)), queue["QueueUrl"], dlq["QueueUrl"]
        )
    return clients, state["wired"]


def make_sqs_handler(
    build: Callable[[Clients], Service],
) -> Callable[[Mapping[str, Any], object], dict[str, Any]]:
    """The Lambda function for a service: ``handler = make_sqs_handler(build_service)``."""
    state: dict[str, _Wired] = {}

    async def handle(event: Mapping[str, Any]) -> dict[str, Any]:
        clients, wired = await _wire(build, state)
        return await handle_sqs_batch(
            wired.processor,
            clients,
            event,
            dead_letter_queue_url=wired.dead_letter_queue_url,
            concurrency=wired.processor.service.consumer.concurrency,
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
    redrive moved there without an outcome are given up, so their failure is on record. Each service's
    Lambda module exports it as ``sweep``; the topology gives its schedule (``dead_letter_sweep_minutes``)."""
    state: dict[str, _Wired] = {}

    async def handle() -> dict[str, Any]:
        clients, wired = await _wire(build, state)
        sweeper = DeadLetterSweeper(
            wired.processor,
            clients.sqs,
            queue_url=wired.queue_url,
            dead_letter_queue_url=wired.dead_letter_queue_url,
        )
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
