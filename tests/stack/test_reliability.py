"""At-least-once delivery, exactly-once effects: duplicates, a worker killed after its transaction,
a relay killed between reading and publishing. Each ends with one event, exact counters, one handling."""

from __future__ import annotations

import contextlib
import json
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from deploy.local.emulator import free_port
from deploy.local.stack import StackConfig
from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.faults import Faults
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import Processor
from shared.runtime.relay import StreamPoller
from tests.support.api import new_session, upload
from tests.support.events import session_created
from tests.support.messages import bus_body, s3_event_body
from tests.support.paths import TESTDATA
from tests.support.stack import Observer, RunningStack, open_stack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack
PHOTO = TESTDATA / "photos" / "cameras" / "Canon_40D.jpg"


# ----------------------------------------------------------------------------- the checks
# Each check runs on a stack whose processes are real (a worker is a process of its own) and is run twice:
# on a stack as shipped, where it passes, and on one whose processors keep no tracking record (the test-only
# fault switch, shared/runtime/faults.py), where it must fail: a check that cannot fail proves nothing.


def handlings(stack: RunningStack, message_key: str) -> Counter[str]:
    """What media_process's worker processes said about one message: "handled" (its handler ran and its
    transaction committed) or "already handled, skipping" (its tracking record was found)."""
    said = (r for r in stack.log_records("worker:media_process") if r.get("message_key") == message_key)
    return Counter(m for r in said if (m := r["message"]) in ("handled", "already handled, skipping"))


def check_a_message_delivered_twice_is_handled_once(stack: RunningStack) -> None:
    """The same message (same body, same S3 sequencer) delivered twice to media_process, one after the
    other, and an event delivered twice to another team's consumer: each handled once."""
    api, auth, portal = stack.api_url, stack.auth(), stack.portal
    sid = new_session(api, headers=auth)
    data = PHOTO.read_bytes()
    key = upload(api, sid, "canon.jpg", data, headers=auth)
    [event] = stack.observer.wait_for(key)
    stack.wait_drained("media_process")

    body = s3_event_body(stack.settings.names.media_bucket, key, len(data), event.data.file.etag, "0A1B2C")
    message_key = f"s3:{stack.settings.names.media_bucket}/{key}@{event.data.file.etag}~0A1B2C"
    for _ in range(2):
        portal.call(
            lambda: stack.stack.clients.sqs.send_message(
                QueueUrl=stack.stack.queue_url("media_process"), MessageBody=body
            )
        )
        stack.wait_drained("media_process")
    for _ in range(2):
        portal.call(
            lambda: stack.stack.clients.sqs.send_message(
                QueueUrl=stack.stack.queue_url("observer"), MessageBody=bus_body(event)
            )
        )
    stack.wait_drained("observer")

    assert handlings(stack, message_key) == {"handled": 1, "already handled, skipping": 1}
    assert stack.observer.seen[event.id] == 1, "the bus's delivery and its two copies: handled once"
    log = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    decisions = [e["type"] for e in log if e["type"] != "shoebox.upload.received.v1"]  # (the api's pending)
    assert decisions == ["shoebox.session.created.v2", "shoebox.media.file.processed.v1"]
    counters = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["counters"]
    assert counters["processed"] == 1 and counters["duplicate"] == 0 and counters["pending"] == 0


def check_a_worker_killed_between_its_transaction_and_its_ack_is_retried_and_changes_nothing(
    stack: RunningStack,
) -> None:
    """media_process's worker process kills itself (SIGKILL) after committing ``killed.jpg``'s decision and
    before acking its message (the armed fault). The supervisor starts it again; the message comes back
    when the visibility of its receive runs out (the stack's own setting, no test shortcut), and the retry
    finds the tracking record: one decision, exact counters, nothing stuck."""
    api, auth = stack.api_url, stack.auth()
    media = stack.process("worker:media_process")
    exits_before = len(media.exits)
    sid = new_session(api, headers=auth)
    key = upload(api, sid, "killed.jpg", PHOTO.read_bytes(), headers=auth)

    eventually(lambda: len(media.exits) > exits_before or None, timeout_s=60, what="the worker's crash")
    assert media.exits[-1].code == -signal.SIGKILL and not media.exits[-1].expected
    # the retry: within the stack's visibility (and the restart's backoff), not the queue's 90 minutes
    visibility = stack.stack.config.visibility_s
    stack.wait_drained("media_process", timeout_s=visibility + 40)
    keys = {
        r["message_key"]
        for r in stack.log_records("worker:media_process")
        if r.get("message") == "handled" and key in r.get("message_key", "")
    }
    assert len(keys) == 1, keys
    assert handlings(stack, keys.pop()) == {"handled": 1, "already handled, skipping": 1}
    log = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    assert [e["type"] for e in log].count("shoebox.media.file.processed.v1") == 1
    counters = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["counters"]
    assert counters["processed"] == 1


@contextlib.contextmanager
def faulty_stack(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, *, tracking: bool
) -> Iterator[RunningStack]:
    """A stack of real processes whose media_process worker dies once after committing ``killed.jpg``,
    with the tracking record switched off when ``tracking`` is False."""
    state = tmp_path_factory.mktemp("faulty")
    config = StackConfig(
        emulator_port=free_port(),
        api_port=free_port(),
        prefix="faulty",
        state_dir=str(state),
        base=settings,
        faults=Faults(
            tracking=tracking,
            crash_before_ack=str(state / "crashed"),
            crash_on="killed.jpg",
            crash_in="media_process",
        ),
    )
    with open_stack(config, Observer()) as running:
        yield running


@pytest.fixture(scope="module")
def crashing_stack(
    tmp_path_factory: pytest.TempPathFactory, suite_settings: Settings
) -> Iterator[RunningStack]:
    with faulty_stack(tmp_path_factory, suite_settings, tracking=True) as running:
        yield running


@pytest.fixture(scope="module")
def untracked_stack(
    tmp_path_factory: pytest.TempPathFactory, suite_settings: Settings
) -> Iterator[RunningStack]:
    with faulty_stack(tmp_path_factory, suite_settings, tracking=False) as running:
        yield running


def test_every_message_delivered_twice_is_handled_once(embedded_stack: RunningStack) -> None:
    check_a_message_delivered_twice_is_handled_once(embedded_stack)


@pytest.mark.slow
def test_a_worker_killed_between_its_transaction_and_its_ack_is_retried_and_changes_nothing(
    crashing_stack: RunningStack,
) -> None:
    check_a_worker_killed_between_its_transaction_and_its_ack_is_retried_and_changes_nothing(crashing_stack)


@pytest.mark.slow
def test_without_the_tracking_record_the_exactly_once_checks_fail(untracked_stack: RunningStack) -> None:
    """The failing run, kept: the same two checks on a stack whose processors keep no tracking record."""
    with pytest.raises(AssertionError, match="handled"):
        check_a_message_delivered_twice_is_handled_once(untracked_stack)
    with pytest.raises(AssertionError, match="handled"):
        check_a_worker_killed_between_its_transaction_and_its_ack_is_retried_and_changes_nothing(
            untracked_stack
        )


class _StuckEvents:
    """An EventBridge client whose PutEvents never returns: the relay is killed while waiting on it."""

    def __init__(self) -> None:
        self.called = anyio.Event()

    async def put_events(self, **_: Any) -> Any:
        self.called.set()
        await anyio.sleep_forever()


@pytest.mark.anyio
async def test_a_relay_killed_between_read_and_publish_publishes_on_restart(
    emulator_only: RunningStack,
) -> None:
    settings = emulator_only.settings
    names = settings.names
    sid = str(uuid.uuid4())
    async with Clients(settings) as clients:
        log = DynamoEventLog(clients.dynamodb, events_table=names.events_table, views_table=names.views_table)
        q = (await clients.sqs.get_queue_url(QueueName=names.queue("selection")))["QueueUrl"]
        await log.commit([session_created(sid)])
        # an appender commits and dies at once: it never talks to the bus
        event = make_event(
            c.TriageRequestedData(job_id="j1", attempt=1, expected=1, processed=1, rejected=0, duplicate=0),
            source="shoebox/api",
            session_id=sid,
        )
        await log.commit([event])

        stuck = _StuckEvents()
        first = StreamPoller(settings, clients.dynamodb, clients.streams, stuck)  # type: ignore[arg-type]
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            with anyio.fail_after(10):
                await stuck.called.wait()  # it has read the record and is publishing...
            tg.cancel_scope.cancel()  # ...when it is killed

        restarted = StreamPoller(settings, clients.dynamodb, clients.streams, clients.events)
        bodies: list[dict[str, Any]] = []
        async with anyio.create_task_group() as tg:
            await tg.start(restarted.run)
            with anyio.fail_after(15):
                while not any(b["detail"]["id"] == event.id for b in bodies):
                    r = await clients.sqs.receive_message(
                        QueueUrl=q, WaitTimeSeconds=1, MaxNumberOfMessages=10
                    )
                    for m in r.get("Messages", []):
                        bodies.append(json.loads(m["Body"]))
                        await clients.sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
            restarted.stop()
            tg.cancel_scope.cancel()
        mine = [b for b in bodies if b["detail"]["id"] == event.id]
        assert len(mine) == 1
        assert mine[0]["detail-type"] == "shoebox.triage.requested"
        assert len(await log.read_all(sid)) == 2  # session.created and the request

        # a consumer handed the same event twice (a relay may publish twice) handles it once
        observer = Observer()
        svc = observer.service()
        consumer = msgspec.structs.replace(svc.consumer, handles=(c.TriageRequested,))
        from shared.runtime.service import Service

        async def handle_triage_requested(e: c.TriageRequested) -> list[Any]:
            observer.seen[e.id] += 1
            return []

        processor = Processor(Service(consumer, {c.TriageRequested: handle_triage_requested}), log)
        body = json.dumps(mine[0])
        await processor.process(body)
        await processor.process(body)
        assert observer.seen[event.id] == 1
