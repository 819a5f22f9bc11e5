"""The services' consumers in this process, on one in-memory log and store: what the stack's workers do with
a message (``Processor``: decode, skip what was handled, the handler, one commit with its tracking
record), without SQS, the bus or the emulator. Each is wired as on the stack (``app.service`` /
``consumer.service``); the message bodies are the ones SQS delivers (``tests.support.messages``)."""

from __future__ import annotations

import itertools
from typing import Any

from services.api import consumer as api_consumer
from services.api import handlers as api_handlers
from services.media_process import app as media_app
from services.media_process import handlers as media_handlers
from services.media_process.model import Limits
from shared.events.envelope import Event
from shared.runtime.config import Settings
from shared.runtime.log import EventLog
from shared.runtime.processor import Processor
from shared.runtime.storage import ObjectStore
from tests.support.messages import s3_event_body, saga_command_body


class Consumers:
    """media_process and the api's consumer on ``log`` and ``store``."""

    def __init__(
        self, log: EventLog, store: ObjectStore, settings: Settings, *, tmp_root: str | None = None
    ) -> None:
        self.log = log
        self.store = store
        media = media_handlers.Deps(
            store=store, log=log, limits=Limits.of(settings.media), tmp_root=tmp_root or settings.tmp_dir
        )
        self.media = Processor(media_app.service(media), log)
        self.api = Processor(api_consumer.service(api_handlers.Deps(log=log, store=store)), log)
        self._sequencers = itertools.count(1)

    def next_sequencer(self) -> str:
        """A sequencer for a new write (S3 orders the writes of a key by it; a redelivery keeps it)."""
        return f"{next(self._sequencers):016X}"

    def object_created_body(self, key: str, size: int, etag: str, sequencer: str | None = None) -> str:
        return s3_event_body(self.store.bucket, key, size, etag, sequencer or self.next_sequencer())

    async def object_created(self, key: str, *, sequencer: str | None = None) -> list[Event[Any]]:
        """S3's announcement of the object now under ``key`` (a new write unless ``sequencer`` repeats
        one), handled by media_process: the events it committed."""
        info = await self.store.head(key)
        return await self.media.process(self.object_created_body(key, info.size, info.etag, sequencer))

    async def received(self, key: str, *, sequencer: str | None = None) -> list[Event[Any]]:
        """S3's announcement of the object now under ``key``, handled by the api's consumer (which records
        the upload as pending until it is decided): the events it committed."""
        info = await self.store.head(key)
        return await self.api.process(self.object_created_body(key, info.size, info.etag, sequencer))

    async def saga_command(
        self, command: str, session_id: str, job_id: str, attempt: int = 1, *, timed_out: bool = False
    ) -> list[Event[Any]]:
        """A saga step's command, handled by the api's consumer: the events it committed."""
        body = saga_command_body(command, session_id, job_id, attempt, timed_out=timed_out)
        return await self.api.process(body)
