"""Test-only fault injection: the switches the reliability tests throw to show that a guarantee's test can
fail. Nothing in production sets them: the Lambda adapter never does, and the embedded stack passes them to
its processes only when a test gives ``StackConfig.faults``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec


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


NONE = Faults()


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
