"""The long-poll adapter: receive from a service's queue, run ``Processor``, ack or retry."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

import anyio

from shared.runtime.dead_letters import give_up_to_dead_letters, gives_up, is_poison, queue_name
from shared.runtime.faults import crash_at_random, crash_before_ack, double_delivery, message_attributes
from shared.runtime.processor import Processor

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

    from shared.events.envelope import Event

log = logging.getLogger("shoebox.runtime")


def retry_delay_s(receive_count: int, base_s: int, cap_s: int = 900) -> int:
    """Redelivery delay after the ``receive_count``-th failure: exponential with jitter (SQS visibility)."""
    if base_s <= 0:
        return 0
    delay = base_s * 2 ** max(receive_count - 1, 0)
    return int(min(cap_s, delay * random.uniform(0.8, 1.2)))


class Worker:
    """The long-poll adapter: receive from the service's queue, run ``Processor``, ack or retry.

    At most ``concurrency`` messages are in flight; ``stop()`` stops receiving and lets in-flight work
    finish (SIGTERM in ``deploy/local``).

    Each receive hides its messages for ``visibility_s`` only, and a heartbeat extends that while the
    handler runs: a worker that dies (kill -9, out of memory) holds its messages for at most that long,
    then SQS hands them to another. None: the queue's own visibility (the Lambda-sized default, six times
    the handler timeout), extended the same way.
    """

    def __init__(
        self,
        processor: Processor,
        sqs: SQSClient,
        *,
        queue_url: str,
        dead_letter_queue_url: str,
        wait_time_s: int = 20,
        stop_grace_s: float = 30.0,
        visibility_s: int | None = None,
    ) -> None:
        self.processor = processor
        self.sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dead_letter_queue_url
        self.consumer = processor.service.consumer
        self.wait_time_s = wait_time_s
        self.stop_grace_s = stop_grace_s
        self.visibility_s = visibility_s or self.consumer.visibility_timeout_s
        self._stopping = anyio.Event()
        self._free = self.consumer.concurrency
        self._slot_freed = anyio.Event()
        self.handled = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as inflight:
            task_status.started()
            async with anyio.create_task_group() as loop:
                loop.start_soon(self._receive_loop, inflight, loop.cancel_scope)
                await self._stopping.wait()
                loop.cancel_scope.cancel()
            with anyio.move_on_after(self.stop_grace_s) as grace:
                while self._free < self.consumer.concurrency:
                    await self._wait_slot()
            if grace.cancelled_caught:
                log.warning("stopping with messages in flight; they will be redelivered")
                inflight.cancel_scope.cancel()

    async def _wait_slot(self) -> None:
        self._slot_freed = anyio.Event()
        await self._slot_freed.wait()

    async def _receive_loop(self, inflight: anyio.abc.TaskGroup, scope: anyio.CancelScope) -> None:
        while not self._stopping.is_set():
            while self._free == 0:
                await self._wait_slot()
            try:
                r = await self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(self._free, 10),
                    WaitTimeSeconds=self.wait_time_s,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                    VisibilityTimeout=self.visibility_s,
                    # none but the test-only copy marker of the chaos runs
                    MessageAttributeNames=message_attributes(self.processor.faults),
                )
            except Exception:  # the emulator restarting, a network blip: back off, never die
                log.exception("receive failed")
                await anyio.sleep(1)
                continue
            for m in r.get("Messages", []):
                self._free -= 1
                inflight.start_soon(self._handle, m)
            await anyio.lowlevel.checkpoint()  # let the handlers start before the next long poll

    async def _handle(self, m: MessageTypeDef) -> None:
        try:
            await self.handle_message(m)
        finally:
            self._free += 1
            self._slot_freed.set()

    async def handle_message(self, m: MessageTypeDef) -> None:
        receipt = m["ReceiptHandle"]
        body = m.get("Body", "")
        count = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        error: Exception | None = None
        committed: list[Event[Any]] = []
        # test-only: the chaos runs hand every message to its consumer twice
        await double_delivery(self.processor.faults, self.sqs, self.queue_url, m)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._keep_invisible, receipt)
            try:
                committed = await self.processor.process(body)
            except Exception as exc:
                error = exc
            tg.cancel_scope.cancel()  # stop extending the visibility
        if error is not None:
            await self._failed(m, body, receipt, count, error)
            return
        if committed:
            # test-only: a worker killed between its transaction and its ack
            key = self.processor.decode(body).tracking_key
            crash_before_ack(self.processor.faults, key, self.processor.service.name)
            crash_at_random(self.processor.faults, key, count)
        await self._ack(receipt)
        self.handled += 1

    async def _failed(self, m: MessageTypeDef, body: str, receipt: str, count: int, exc: Exception) -> None:
        if gives_up(exc, count):
            poison = is_poison(exc)
            log.error("giving up on message after %d receive(s): %s", count, exc, exc_info=not poison)
            try:
                await give_up_to_dead_letters(
                    self.processor,
                    self.sqs,
                    body,
                    error=exc,
                    message_id=m.get("MessageId", ""),
                    receive_count=count,
                    queue=queue_name(self.queue_url),
                    dead_letter_queue_url=self.dlq_url,
                )
            except Exception:
                # not on record (the log unreachable, a broken on_give_up): the message comes back after the
                # retry delay to be given up then (or by the DLQ sweeper); the worker and its other
                # messages carry on
                log.exception("could not give the message up; it will be redelivered")
            else:
                await self._ack(receipt)
                return
        delay = retry_delay_s(count, self.consumer.retry_base_s)
        log.warning("handler failed (receive %d), retrying in %ds: %r", count, delay, exc)
        try:
            await self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=delay
            )
        except Exception:
            log.exception("could not set the retry delay")

    async def _keep_invisible(self, receipt: str) -> None:
        """The heartbeat: every third of the visibility, hide the message for another full one."""
        vt = self.visibility_s
        while True:
            await anyio.sleep(max(vt / 3, 1))
            try:
                await self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=vt
                )
            except Exception:
                log.exception("could not extend visibility")

    async def _ack(self, receipt: str) -> None:
        with anyio.CancelScope(shield=True):
            await self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
