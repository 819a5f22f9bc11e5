"""An upload is ``pending`` while media_process is down, on the emulator: S3's real announcement reaches the
api's queue through EventBridge, the api's consumer records the upload, and media_process's message waits
in its own queue until a worker takes it; then the file is its decision. Fails on a stack where only
media_process hears of uploads (nothing lists the file until it is decided)."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest

from services.api import consumer as api_consumer
from services.api.access import snapshot
from services.api.files import listed
from services.media_process.app import build as build_media_process
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import Processor
from shared.runtime.service import Service
from shared.runtime.worker import Worker
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.anyio]
PHOTO = TESTDATA / "photos" / "gps" / "DSCN0012.jpg"


class Signalling(Processor):
    """A processor that says when it committed an event about ``key``."""

    def __init__(self, service: Service, log: DynamoEventLog, key: str) -> None:
        super().__init__(service, log)
        self.key, self.committed = key, anyio.Event()

    async def process(self, body: str | bytes) -> list[Event[Any]]:
        events = await super().process(body)
        if any(getattr(e.data, "key", None) == self.key or _file_key(e) == self.key for e in events):
            self.committed.set()
        return events


def _file_key(e: Event[Any]) -> str | None:
    ref = getattr(e.data, "file", None)
    return ref.key if isinstance(ref, c.FileRef) else None


async def test_an_upload_is_pending_while_media_process_is_down_then_its_decision(
    emulator_only: RunningStack,
) -> None:
    settings = emulator_only.settings
    names = settings.names
    sid = str(uuid.uuid4())
    key = f"uploads/{sid}/a.jpg"
    async with Clients(settings) as clients:
        log = DynamoEventLog.of(clients)
        await log.commit(
            [
                make_event(
                    c.SessionCreatedV2Data(owner="alice", trip=c.Trip(context="t")),
                    source="shoebox/api",
                    session_id=sid,
                )
            ]
        )

        async def worker(service: str, processor: Processor) -> Worker:
            q = (await clients.sqs.get_queue_url(QueueName=names.queue(service)))["QueueUrl"]
            dlq = (await clients.sqs.get_queue_url(QueueName=names.dead_letter_queue(service)))["QueueUrl"]
            return Worker(processor, clients.sqs, queue_url=q, dead_letter_queue_url=dlq, wait_time_s=1)

        api = Signalling(api_consumer.build(clients), log, key)
        media = Signalling(build_media_process(clients), log, key)
        api_worker = await worker("api", api)
        media_worker = await worker("media_process", media)
        async with anyio.create_task_group() as tg:
            await tg.start(api_worker.run)
            await clients.s3.put_object(Bucket=names.media_bucket, Key=key, Body=PHOTO.read_bytes())
            with anyio.fail_after(60):
                await api.committed.wait()
            files, _ = listed(sid, snap := await snapshot(log, sid))
            assert [(f.name, f.status) for f in files] == [("a.jpg", "pending")]
            assert snap.counters.pending == 1 and snap.counters.processed == 0

            await tg.start(media_worker.run)  # media_process comes back: its message was waiting
            with anyio.fail_after(120):
                await media.committed.wait()
            files, _ = listed(sid, snap := await snapshot(log, sid))
            assert [(f.name, f.status) for f in files] == [("a.jpg", "processed")]
            assert snap.counters.pending == 0 and snap.counters.processed == 1
            api_worker.stop()
            media_worker.stop()
