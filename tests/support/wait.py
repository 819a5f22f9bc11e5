"""How a test waits. Where an event can be awaited, await it: the observer consumer's ``Observer.wait_for``
(tests.support.stack) wakes on each event it is given. Where nothing can be awaited (an HTTP status, a
process, a counter in another component), one bounded poll: ``eventually`` (threads) or ``until`` (async)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import anyio

T = TypeVar("T")

#: how often a bounded poll looks again
POLL_S = 0.05


def eventually(
    probe: Callable[[], T | None],
    timeout_s: float = 15.0,
    what: str = "condition",
    interval_s: float = POLL_S,
) -> T:
    """Call ``probe`` until it returns something truthy, and return that; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def until(
    probe: Callable[[], T | None],
    timeout_s: float = 15.0,
    what: str = "condition",
    interval_s: float = POLL_S,
) -> T:
    """``eventually`` inside an event loop: the loop goes on between looks."""
    with anyio.move_on_after(timeout_s):
        while True:
            value = probe()
            if value:
                return value
            await anyio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
