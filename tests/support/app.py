"""The API in this process (what ``tests/api/conftest.py``'s fixtures hand out): the app on its in-memory
collaborators (log, store, saga starter, command queue) and an issuer of its own, called through Litestar's
``TestClient``, with media_process and the api's consumer on the same log and store
(``tests.support.inproc``). Routes, tokens, ownership, validation and ETags are tested this way; the stack
tests keep what needs the stack (S3's notifications, the bus, the saga, the relay)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import msgspec
from litestar import Litestar
from litestar.testing import TestClient

from services.api.app import create_app
from services.api.auth import LocalIssuer
from services.api.wiring import Collaborators
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event, Payload
from shared.runtime.config import ApiSettings, AwsSettings, Settings
from shared.runtime.inbound import THUMBNAILS, upload_key
from shared.runtime.log import InMemoryEventLog
from shared.runtime.sagas import InMemorySagaStarter
from shared.runtime.storage import InMemoryObjectStore
from tests.support.inproc import Consumers

T = TypeVar("T")
#: the ``Host`` Litestar's ``TestClient`` sends
TEST_HOST = "testserver.local"
#: the settings of every in-process app (their bucket is the in-memory store's; they answer the test
#: client's host)
SETTINGS = Settings(aws=AwsSettings(prefix="inproc"), api=ApiSettings(allowed_hosts=TEST_HOST))


@dataclasses.dataclass
class Api:
    """The running app, its collaborators and its issuer, and the steps tests take with them."""

    client: TestClient[Litestar]
    issuer: LocalIssuer
    log: InMemoryEventLog
    store: InMemoryObjectStore
    sagas: InMemorySagaStarter
    settings: Settings = SETTINGS

    def __post_init__(self) -> None:
        self.consumers = Consumers(self.log, self.store, self.settings)

    def auth(self, sub: str = "alice") -> dict[str, str]:
        """The ``Authorization`` header of the user ``sub``."""
        return {"Authorization": f"Bearer {self.issuer.issue(sub)}"}

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` on the app's event loop (where its collaborators are used)."""
        return self.client.blocking_portal.call(fn, *args)

    def commit(self, sid: str, *payloads: Payload, source: str = "shoebox/test") -> None:
        """Append events to ``sid``'s log as another service would."""
        events = [make_event(p, source=source, session_id=sid) for p in payloads]
        self.run(self.log.commit, events)

    def new_session(self, context: str = "Weekend in Kyoto", sub: str = "alice") -> str:
        r = self.client.post("/v1/sessions", json={"context": context}, headers=self.auth(sub))
        assert r.status_code == 201, r.text
        return str(r.json()["session_id"])

    def upload(
        self, sid: str, name: str, data: bytes, content_type: str = "image/jpeg", sub: str = "alice"
    ) -> str:
        """An upload through its ticket: the client's PUT to the presigned URL lands in the store."""
        r = self.client.post(
            f"/v1/sessions/{sid}/uploads",
            json={"name": name, "content_type": content_type, "size": len(data)},
            headers=self.auth(sub),
        )
        assert r.status_code == 201, r.text
        ticket = r.json()
        self.store.put_presigned(ticket["url"], data)
        return str(ticket["key"])

    def receive(self, key: str) -> list[Event[Any]]:
        """What the api's consumer does when S3 announces the object now under ``key``: the events it
        committed (the upload pending, unless its bytes are decided)."""
        return self.run(self.consumers.received, key)

    def decide(self, key: str) -> list[Event[Any]]:
        """What media_process does when S3 announces the object now under ``key``: the events it
        committed."""
        return self.run(self.consumers.object_created, key)

    def processed(self, sid: str, name: str, data: bytes = b"\xff\xd8\xff photo") -> str:
        """An original and its thumbnail in the store, and media_process's decision in the log."""
        key = upload_key(sid, name)
        thumbnail = f"{THUMBNAILS}/{sid}/{name}.jpg"
        self.run(self.store.put, key, data, "image/jpeg")
        self.run(self.store.put, thumbnail, b"\xff\xd8\xff thumbnail of " + data, "image/jpeg")
        ref = c.FileRef(bucket=self.store.bucket, key=key, name=name, size=len(data), etag=name)
        keys = c.DerivedKeys(thumbnail=thumbnail)
        self.commit(
            sid,
            c.FileProcessedData(file=ref, kind="photo", media_type="image/jpeg", sha256=name, keys=keys),
            source="shoebox/media_process",
        )
        return key

    def verdicts(self, sid: str, job_id: str, *verdicts: c.Verdict, attempt: int = 1) -> None:
        """What selection does when it is done: the verdicts document in the store, the job completed."""
        results_key = f"results/{sid}/{job_id}-{attempt}.json"
        document = msgspec.json.encode({"verdicts": list(verdicts)})
        self.run(self.store.put, results_key, document, "application/json")
        keep = sum(v.verdict == "keep" for v in verdicts)
        self.commit(
            sid,
            c.TriageCompletedData(
                job_id=job_id,
                attempt=attempt,
                keep=keep,
                discard=len(verdicts) - keep,
                results_key=results_key,
                provider="offline",
            ),
            source="shoebox/selection",
        )


def in_memory_app(
    issuer: LocalIssuer | None,
    collaborators: Collaborators | None = None,
    *,
    hosts: tuple[str, ...] = (),
    **kw: Any,
) -> tuple[Litestar, Collaborators]:
    """An app on ``collaborators`` (empty in-memory ones by default), and those collaborators; it answers
    the test client's host and ``hosts``."""
    given = collaborators or Collaborators.in_memory(SETTINGS)
    settings = msgspec.structs.replace(SETTINGS, api=SETTINGS.api.with_hosts(*hosts))
    return create_app(settings, collaborators=given, issuer=issuer, **kw), given


@contextlib.contextmanager
def running(issuer: LocalIssuer, collaborators: Collaborators | None = None) -> Iterator[Api]:
    """An app on in-memory collaborators (``collaborators`` for some of them), its lifespan running."""
    app, given = in_memory_app(issuer, collaborators)
    assert isinstance(given.log, InMemoryEventLog)
    assert isinstance(given.store, InMemoryObjectStore)
    assert isinstance(given.sagas, InMemorySagaStarter)
    with TestClient(app) as client:
        yield Api(client, issuer, given.log, given.store, given.sagas)
