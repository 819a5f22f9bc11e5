"""The event log's errors and value types (``shared/runtime/log.py`` exports them under its own name)."""

from __future__ import annotations

from typing import Any

import msgspec

from shared.events.envelope import Event


class LogError(Exception):
    """Base of the event log's errors."""


class AlreadyProcessed(LogError):
    """The message this commit tracks was already handled: the commit wrote nothing."""


class DuplicateEvent(LogError):
    """An event with this ``source + id`` is already in the log: the commit wrote nothing."""


class ClaimTaken(LogError):
    """A read-model item the commit claims (``ViewUpdate.require_absent``) already exists, or one it
    expects (``ViewExpectation``) moved on: nothing was written. The caller decides again with what is there
    now (media_process: the bytes are a duplicate)."""


class UnknownSession(LogError):
    """The commit is for a session that does not exist (no ``META`` read model, which ``session.created``
    makes): nothing was written. Sessions are never deleted, so no retry can make it pass."""


class CommitTooLarge(LogError):
    """The commit needs more items than one transaction can hold."""


class RebuildRaced(LogError):
    """Events kept landing while a session's read models were rebuilt: run the rebuild again when the
    session is quiet."""


class Tracking(msgspec.Struct, frozen=True):
    """The idempotency record of one consumed message."""

    consumer: str
    key: str


class Page(msgspec.Struct, frozen=True):
    events: list[Event[Any]]
    next_after: int | None  # pass as ``after`` for the next page; None at the end
