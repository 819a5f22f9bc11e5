"""Test-only fault injection: the switches the reliability tests throw to show that a guarantee's test can
fail. Nothing in production sets them: the Lambda adapter never does, and the embedded stack passes them to
its processes only when a test gives ``StackConfig.faults``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.type_defs import MessageTypeDef

log = logging.getLogger("shoebox.runtime")

#: the message attribute that marks a copy made by ``double_delivery`` (a copy is never copied again)
COPY_ATTRIBUTE = "shoebox-chaos-copy"


class Faults(msgspec.Struct, frozen=True, kw_only=True):
    #: False: the processor neither reads nor writes the tracking record of a message (the exactly-once
    #: tests must go red with this off)
    tracking: bool = True
    #: a file path: the first time a worker process committed the transaction of a message whose key
    #: contains ``crash_on``, it kills itself (SIGKILL) before acking, and creates the file so that this
    #: happens once per file
    crash_before_ack: str = ""
    crash_on: str = ""
    #: the service whose worker dies (empty: any; the api's consumer hears of every upload too)
    crash_in: str = ""
    #: > 0: every message a worker receives for the first time is sent again to its own queue, with a
    #: random delay of 0 to this many seconds: every consumer is handed every message twice, the copies
    #: in another order than the originals (the chaos runs, ``tests/chaos``)
    double_deliveries_s: int = 0
    #: the chance that a worker kills itself (SIGKILL) between committing a message's transaction and
    #: acking it, drawn per message and receive (the chaos runs)
    crash_rate: float = 0.0
    #: seeds every draw above (with the message's body, key and receive count)
    seed: int = 0
    #: a file path: when given, the two faults above apply only while it exists (a chaos campaign runs
    #: its clean run first on the same stack, then creates it)
    armed_by: str = ""
    #: a file path: the first time a video render passes half-way in a worker, that worker kills itself
    #: (SIGKILL: no cleanup, no upload, no ack) and creates the file, so that this happens once per file
    #: (the no-partial-object test: the retry must complete the item)
    kill_mid_render: str = ""

    def armed(self) -> bool:
        """Whether the chaos faults (doubled deliveries, crash points) apply now."""
        return not self.armed_by or os.path.exists(self.armed_by)


NONE = Faults()

#: the faults of the processor whose handler runs in this context (``handling``): a handler deep in a
#: service reaches them without every service's wiring taking them
ACTIVE: ContextVar[Faults] = ContextVar("shoebox_faults", default=NONE)


@contextmanager
def handling(faults: Faults) -> Iterator[None]:
    """Make ``faults`` the active ones while a processor's handler runs."""
    token = ACTIVE.set(faults)
    try:
        yield
    finally:
        ACTIVE.reset(token)


def kill_mid_render(faults: Faults, percent: float | None) -> None:
    """Die like a killed worker (SIGKILL) once the render passed half-way, if ``faults`` (the handler's
    ``ACTIVE`` ones, taken where it started: progress may be reported from another thread) say so and the
    switch has not fired (test-only: ``Faults.kill_mid_render``)."""
    path = faults.kill_mid_render
    if not path or percent is None or percent < 50:
        return
    try:
        Path(path).touch(exist_ok=False)
    except FileExistsError:
        return
    log.warning("fault: killing this worker mid-render (%.0f %%)", percent)
    os.kill(os.getpid(), signal.SIGKILL)


def crash_before_ack(faults: Faults, message_key: str, service: str = "") -> None:
    """Die like a killed worker (SIGKILL: no cleanup, no ack) if the fault is armed for this message (and
    this service) and has not fired."""
    if not faults.crash_before_ack or faults.crash_on not in message_key:
        return
    if faults.crash_in and faults.crash_in != service:
        return
    marker = Path(faults.crash_before_ack)
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _draw(faults: Faults, *parts: str) -> random.Random:
    """A generator seeded by the run's seed and what identifies this draw: the same message gets the same
    draw in any process, and another receive of it another one."""
    h = hashlib.sha256("\0".join((str(faults.seed), *parts)).encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


def crash_at_random(faults: Faults, message_key: str, receive_count: int) -> None:
    """Die like a killed worker (SIGKILL) with the chance ``crash_rate`` (test-only: chaos runs)."""
    if faults.crash_rate <= 0 or not faults.armed():
        return
    if _draw(faults, "crash", message_key, str(receive_count)).random() < faults.crash_rate:
        os.kill(os.getpid(), signal.SIGKILL)


def message_attributes(faults: Faults) -> list[str]:
    """The message attributes a worker's receive asks for: the copy marker when deliveries are doubled,
    else none."""
    return [COPY_ATTRIBUTE] if faults.double_deliveries_s > 0 else []


async def double_delivery(faults: Faults, sqs: SQSClient, queue_url: str, m: MessageTypeDef) -> None:
    """Send a copy of a message received for the first time back to its queue, after a random delay (at
    most ``double_deliveries_s``), marked so that it is not copied again (test-only: chaos runs). Done on
    receipt, before the handler runs, so a worker killed while handling it has made its copy already."""
    if faults.double_deliveries_s <= 0 or COPY_ATTRIBUTE in m.get("MessageAttributes", {}):
        return
    if not faults.armed():
        return
    if int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1:
        return  # copied on its first receive (or that worker died before it could: a lost copy only)
    body = m.get("Body", "")
    delay = _draw(faults, "delay", body).randint(0, faults.double_deliveries_s)
    try:
        await sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            DelaySeconds=delay,
            MessageAttributes={COPY_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}},
        )
    except Exception:  # a fault switch must not become a fault of its own: the original goes on
        log.exception("could not send the copy of a message")
