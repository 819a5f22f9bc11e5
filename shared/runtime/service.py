"""What a service declares: its handlers (``handle_<family>``, checked against its topology), what they
return (payloads, or ``Emit`` for more than a payload) and what a message given up means to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec

from shared.events.envelope import Payload
from shared.runtime.topology import Consumer, Handled
from shared.runtime.views import ViewExpectation


class Emit(msgspec.Struct, frozen=True):
    """A handler output with more than a payload: its subject, or another session's stream, or the
    read-model items the handler decided on, which the commit expects still at the versions it read (else
    the handler runs again and decides with what is there then)."""

    payload: Payload
    subject: str | None = None
    expect: tuple[ViewExpectation, ...] = ()


Output = Payload | Emit
Handler = Callable[[Any], Awaitable[Sequence[Output]]]
#: what a given-up message means to the service (its outputs), worked out at once or read from its views
GiveUp = Callable[[Any, BaseException], Sequence[Output] | Awaitable[Sequence[Output]]]


class PoisonMessage(Exception):
    """A message that can never be handled (malformed, unknown type): no retry will help."""


class Service:
    """One service's handlers, checked against its topology declaration."""

    def __init__(
        self, consumer: Consumer, handlers: Mapping[Handled, Handler], *, on_give_up: GiveUp | None = None
    ) -> None:
        missing = [h.handler_name() for h in consumer.handles if h not in handlers]
        extra = [h for h in handlers if h not in consumer.handles]
        if missing or extra:
            raise ValueError(
                f"{consumer.service}: handlers do not match the topology "
                f"(missing {missing}, undeclared {extra})"
            )
        for h, fn in handlers.items():
            name = getattr(getattr(fn, "func", fn), "__name__", "")
            if name != h.handler_name():
                raise ValueError(
                    f"{consumer.service}: the handler for {h.__name__} must be named "
                    f"{h.handler_name()}, not {name}"
                )
        self.consumer = consumer
        self.handlers = dict(handlers)
        self.on_give_up = on_give_up

    @property
    def name(self) -> str:
        return self.consumer.service
