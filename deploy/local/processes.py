"""One part of the embedded stack in a process of its own, as each is a Lambda of its own on AWS: a
service's worker (``worker:<service>``), the outbox relay (``relay``) or the HTTP API (``api``).

The supervisor (``supervisor.py``) starts each as ``python -m deploy.local.processes PLAN NAME``. ``PLAN`` is
the stack's plan file (``ProcessPlan`` as JSON, written by the stack under its state folder, 0600: it holds
the configuration). A process logs to stderr and, as JSON lines, to ``<state>/logs/<name>.log``; it creates
``<state>/run/<name>.ready`` once it receives, relays or serves; SIGTERM or SIGINT stop it gracefully (a
worker finishes what it holds, the API closes its streams).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec

from deploy.local.services import service_builder
from shared.runtime import telemetry
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.dead_letters import DeadLetterSweeper
from shared.runtime.faults import NONE, Faults
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import Processor
from shared.runtime.relay import StreamPoller
from shared.runtime.worker import Worker

log = logging.getLogger("shoebox.stack")

RELAY = "relay"
API = "api"
WORKER_PREFIX = "worker:"


class ProcessPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What every process of one stack needs to know, written once by the stack."""

    settings: Settings
    state_dir: str
    #: queue URLs and state machine ARNs by name (``provision``'s answer)
    resources: dict[str, str]
    api_port: int
    worker_wait_s: int
    visibility_s: int
    relay_poll_s: float
    faults: Faults = NONE


def worker_name(service: str) -> str:
    return f"{WORKER_PREFIX}{service}"


def log_path(state_dir: Path, name: str) -> Path:
    return state_dir / "logs" / f"{name.replace(':', '-')}.log"


def ready_path(state_dir: Path, name: str) -> Path:
    return state_dir / "run" / f"{name.replace(':', '-')}.ready"


async def _until_signalled(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            stop.set()
            return


async def run_worker(plan: ProcessPlan, service_name: str, ready: Path) -> None:
    """The service's worker on its queue and the sweeper of its dead-letter queue, until signalled."""
    build = service_builder(service_name)
    if build is None:
        raise SystemExit(f"no consumer wiring for service {service_name!r}")
    names = plan.settings.names
    async with Clients(plan.settings) as clients:
        processor = Processor(build(clients), DynamoEventLog.of(clients), faults=plan.faults)
        queue = plan.resources[names.queue(service_name)]
        dlq = plan.resources[names.dead_letter_queue(service_name)]
        worker = Worker(
            processor,
            clients.sqs,
            queue_url=queue,
            dead_letter_queue_url=dlq,
            wait_time_s=plan.worker_wait_s,
            visibility_s=plan.visibility_s,
        )
        sweeper = DeadLetterSweeper(processor, clients.sqs, queue_url=queue, dead_letter_queue_url=dlq)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            await tg.start(sweeper.run)
            await anyio.Path(ready).touch()
            stop = anyio.Event()
            tg.start_soon(_until_signalled, stop)
            await stop.wait()
            worker.stop()
            sweeper.stop()


async def run_relay(plan: ProcessPlan, ready: Path) -> None:
    """The outbox relay: the log table's stream to the bus, until signalled."""
    async with Clients(plan.settings) as clients:
        relay = StreamPoller(
            plan.settings,
            clients.dynamodb,
            clients.streams,
            clients.events,
            poll_interval_s=plan.relay_poll_s,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(relay.run)
            await anyio.Path(ready).touch()
            stop = anyio.Event()
            tg.start_soon(_until_signalled, stop)
            await stop.wait()
            relay.stop()


async def run_api(plan: ProcessPlan, ready: Path) -> None:
    """The HTTP API (and the upload page) on ``plan.api_port``, until signalled."""
    import uvicorn

    from services.api.app import create_app
    from services.api.auth import LocalIssuer
    from services.api.wiring import on_aws

    issuer = LocalIssuer.load_or_create(Path(plan.state_dir))
    async with Clients(plan.settings) as clients:
        app = create_app(plan.settings, collaborators=on_aws(clients), issuer=issuer)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=plan.api_port,
                log_config=None,
                lifespan="on",
                access_log=False,
                timeout_graceful_shutdown=5,  # an open event stream must not hold up a stop
            )
        )
        # this process's signals stop the server the same way as the others'
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            while not server.started:  # uvicorn offers no event for this
                if server.should_exit:
                    raise SystemExit(f"the API could not start on port {plan.api_port}")
                await anyio.sleep(0.02)
            await anyio.Path(ready).touch()
            stop = anyio.Event()
            tg.start_soon(_until_signalled, stop)
            await stop.wait()
            server.should_exit = True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.processes")
    parser.add_argument("plan", type=Path, help="the stack's plan file")
    parser.add_argument("name", help="relay, api or worker:<service>")
    args = parser.parse_args(argv)
    plan = msgspec.json.decode(args.plan.read_bytes(), type=ProcessPlan)
    state = Path(plan.state_dir)
    name: str = args.name
    telemetry.setup_from(plan.settings, name.replace(":", "-"), log_file=str(log_path(state, name)))
    ready = ready_path(state, name)
    if name == RELAY:
        anyio.run(run_relay, plan, ready)
    elif name == API:
        anyio.run(run_api, plan, ready)
    elif name.startswith(WORKER_PREFIX):
        anyio.run(run_worker, plan, name.removeprefix(WORKER_PREFIX), ready)
    else:
        parser.error(f"unknown process {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
