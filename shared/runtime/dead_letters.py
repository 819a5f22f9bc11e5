"""Giving a message up: the failure recorded in the log and the message moved to its dead-letter queue, by
the runtime on a last receive or, for messages that killed every worker, by the ``DeadLetterSweeper``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from shared.runtime.log import UnknownSession
from shared.runtime.processor import Processor
from shared.runtime.service import PoisonMessage
from shared.runtime.topology import MAX_RECEIVE_COUNT

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

    from shared.events.envelope import Event

log = logging.getLogger("shoebox.runtime")

#: a message attribute on the messages the runtime itself moves to a DLQ: their failure is on record
GIVEN_UP_ATTRIBUTE = "shoebox-given-up"
#: how long a swept dead letter stays hidden before the sweeper looks at it again (SQS allows 12 hours
#: from the receive in all, and the sweep itself takes a little of that)
DEAD_LETTER_HIDE_S = 12 * 3600 - 300


def queue_name(url: str) -> str:
    """An SQS queue's name from its URL."""
    return url.rsplit("/", 1)[-1]


def is_poison(error: BaseException) -> bool:
    """Whether no retry can fix the message: it cannot be read (malformed, unknown type or version, a type
    its service does not handle: ``PoisonMessage``) or it is for a session that does not exist."""
    return isinstance(error, PoisonMessage | UnknownSession)


def gives_up(error: Exception, receive_count: int) -> bool:
    """Whether a failed message is given up now (rather than redelivered): a message no retry can fix,
    or its last receive before the redrive policy would move it."""
    return is_poison(error) or receive_count >= MAX_RECEIVE_COUNT


async def give_up_to_dead_letters(
    processor: Processor,
    sqs: SQSClient,
    body: str,
    *,
    error: BaseException,
    message_id: str,
    receive_count: int,
    queue: str,
    dead_letter_queue_url: str,
) -> None:
    """Record the failure (``Processor.give_up``) and move the message to the DLQ ourselves rather than
    waiting for the redrive's next receive (same place, sooner), marked so the DLQ sweeper does not record
    it a second time. The caller then deletes it from its queue."""
    await processor.give_up(
        body,
        error=error,
        message_id=message_id,
        receive_count=receive_count,
        queue=queue,
        dead_letter_queue=queue_name(dead_letter_queue_url),
    )
    await sqs.send_message(
        QueueUrl=dead_letter_queue_url,
        MessageBody=body,
        MessageAttributes={GIVEN_UP_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}},
    )


class WorkerLost(Exception):
    """No worker finished the message: each one that received it stopped (crashed, was killed, ran out of
    memory) before it could record an outcome, and the queue's redrive moved it to the DLQ."""


class DeadLetterSweeper:
    """Records the messages the queue's redrive moved to the DLQ, which no worker lived to give up on.

    A handler that fails is given up by the runtime on its last receive (``Processor.give_up``); a message
    that kills its worker every time reaches the DLQ by the redrive policy instead, silently. The sweeper
    reads the DLQ and gives those up the same way (``shoebox.message.failed`` plus the service's
    ``on_give_up``: media_process rejects the file, so no saga waits for it). The tracking record makes it
    idempotent: a message already given up or handled produces nothing. Messages stay in the DLQ for an
    operator; a swept one is hidden for ``DEAD_LETTER_HIDE_S``.
    """

    def __init__(
        self,
        processor: Processor,
        sqs: SQSClient,
        *,
        queue_url: str,
        dead_letter_queue_url: str,
        wait_time_s: int = 20,
    ) -> None:
        self.processor = processor
        self.sqs = sqs
        self.queue = queue_name(queue_url)
        self.dlq_url = dead_letter_queue_url
        self.dlq = queue_name(dead_letter_queue_url)
        self.wait_time_s = wait_time_s
        #: dead letters looked at, and failures recorded, since this sweeper started
        self.seen = 0
        self.recorded = 0
        self._stopping = anyio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            task_status.started()

            async def loop() -> None:
                while True:
                    try:
                        await self.sweep(wait_time_s=self.wait_time_s)
                    except Exception:  # the emulator restarting, a network blip: back off, never die
                        log.exception("sweeping %s failed", self.dlq_url)
                        await anyio.sleep(5)

            tg.start_soon(loop)
            await self._stopping.wait()
            tg.cancel_scope.cancel()

    async def sweep(self, *, wait_time_s: int = 0) -> int:
        """One receive from the DLQ (up to 10 messages); returns how many failures it recorded."""
        r = await self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_time_s,
            MessageAttributeNames=[GIVEN_UP_ATTRIBUTE],
            VisibilityTimeout=60,
        )
        recorded = 0
        for m in r.get("Messages", []):
            self.seen += 1
            if GIVEN_UP_ATTRIBUTE not in m.get("MessageAttributes", {}):
                try:
                    events = await self.record(m)
                except Exception:  # this one is looked at again when it is visible; the others go on
                    log.exception("could not record the dead letter %s", m.get("MessageId", ""))
                    continue
                if events:
                    recorded += 1
                    log.error(
                        "a message reached %s without an outcome: recorded as failed (%s)",
                        self.dlq,
                        ", ".join(type(e).type_name() for e in events),
                    )
            await self.sqs.change_message_visibility(
                QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=DEAD_LETTER_HIDE_S
            )
        self.recorded += recorded
        return recorded

    async def record(self, m: MessageTypeDef) -> list[Event[Any]]:
        """Give up one dead letter no worker gave up: what ``Processor.give_up`` committed."""
        return await self.processor.give_up(
            m.get("Body", ""),
            error=WorkerLost(
                f"no worker of {self.processor.service.name} finished this message in "
                f"{MAX_RECEIVE_COUNT} receives (each stopped before recording an outcome: a crash, "
                "a kill or running out of memory); the queue moved it to its dead-letter queue"
            ),
            message_id=m.get("MessageId", ""),
            receive_count=MAX_RECEIVE_COUNT,
            queue=self.queue,
            dead_letter_queue=self.dlq,
        )
