"""The embedded stack: the emulator, provisioned from the topology, plus every worker, the relay and the
API, in one process tree. ``shoebox up`` runs it in the foreground; tests start it on free ports.

One lock per state directory (``.shoebox/``) and a port check make a second ``shoebox up`` say that a
stack is already running instead of failing on a port.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec

from deploy.local import persistence
from deploy.local.emulator import Emulator, port_in_use
from deploy.local.provision import Provisioned, provision
from deploy.topology import TOPOLOGY
from services.api.auth import LocalIssuer
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.dead_letters import DeadLetterSweeper
from shared.runtime.log import DynamoEventLog
from shared.runtime.processor import Processor
from shared.runtime.relay import StreamPoller
from shared.runtime.service import Service
from shared.runtime.topology import Topology
from shared.runtime.worker import Worker

log = logging.getLogger("shoebox.stack")

DEFAULT_EMULATOR_PORT = 4566
DEFAULT_API_PORT = 8000


class StackAlreadyRunning(RuntimeError):
    pass


class StackInfo(msgspec.Struct, frozen=True):
    pid: int
    aws_endpoint: str
    api_url: str
    prefix: str


class StackConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where the stack runs and what it runs. Its processes' configuration is ``base`` (the entrypoint's
    ``Settings.from_env()``) with the stack's own AWS endpoint (its emulator), ``prefix`` when given, and a
    temporary folder in the state directory unless ``base`` names one."""

    emulator_port: int = DEFAULT_EMULATOR_PORT
    api_port: int = DEFAULT_API_PORT
    #: the resources' name prefix; None: ``base``'s (``SHOEBOX_PREFIX``)
    prefix: str | None = None
    state_dir: str = ".shoebox"
    emulator_in_process: bool = False
    #: services to run workers for; None = every service that has an ``app.build``
    services: tuple[str, ...] | None = None
    run_api: bool = True
    run_relay: bool = True
    relay_poll_s: float = 0.25  # idle re-read; commits in this process wake the relay at once
    worker_wait_s: int = 2  # long-poll length: short, so Ctrl-C is quick (each empty poll is one call)
    #: keep the emulator's state in ``state_dir/emulator`` across restarts (docs/persistence.md)
    persist: bool = True
    #: forget the kept state before starting (``shoebox up --fresh``)
    fresh: bool = False
    #: the rest of the configuration (media limits, budgets, telemetry, ...); the defaults unless given
    base: Settings = msgspec.field(default_factory=Settings)

    @property
    def settings(self) -> Settings:
        """What every part of the stack runs with: ``base`` pointed at this stack's emulator."""
        aws = msgspec.structs.replace(
            self.base.aws,
            endpoint=f"http://127.0.0.1:{self.emulator_port}",
            prefix=self.base.aws.prefix if self.prefix is None else self.prefix,
        )
        tmp_dir = self.base.tmp_dir or str(Path(self.state_dir).resolve() / "tmp")
        return msgspec.structs.replace(self.base, aws=aws, tmp_dir=tmp_dir)


def service_builder(service: str) -> Callable[[Clients], Service] | None:
    """The service's consumer wiring, ``build(clients)``: in ``services.<name>.consumer`` when the service
    also has another face (the api's HTTP app), else ``services.<name>.app``; None when not built yet."""
    for module_name in (f"services.{service}.consumer", f"services.{service}.app"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        build = getattr(module, "build", None)
        if callable(build):
            return build  # type: ignore[no-any-return]
    return None


@contextlib.contextmanager
def stack_lock(state_dir: Path) -> Iterator[Path]:
    state_dir.mkdir(parents=True, exist_ok=True)
    lock_path = state_dir / "stack.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        info = read_info(state_dir)
        where = f" (pid {info.pid}, API at {info.api_url})" if info else ""
        raise StackAlreadyRunning(
            f"a Shoebox stack is already running{where}; stop it with Ctrl-C "
            "in its terminal, or use it: shoebox process DIR --api URL"
        ) from None
    try:
        yield lock_path
    finally:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / "stack.json").unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_info(state_dir: Path) -> StackInfo | None:
    try:
        return msgspec.json.decode((state_dir / "stack.json").read_bytes(), type=StackInfo)
    except (FileNotFoundError, msgspec.DecodeError):
        return None


class Stack:
    """A started embedded stack; use ``running_stack`` to get one."""

    def __init__(
        self,
        config: StackConfig,
        emulator: Emulator,
        clients: Clients,
        resources: Provisioned,
        topology: Topology,
        issuer: LocalIssuer,
    ) -> None:
        self.config = config
        #: signs the bearer tokens the API accepts (``stack.issuer.issue("alice")``)
        self.issuer = issuer
        self.settings = config.settings
        self.emulator = emulator
        self.clients = clients
        self.resources = resources
        self.topology = topology
        self.workers: dict[str, Worker] = {}
        self.sweepers: dict[str, DeadLetterSweeper] = {}
        self.relay: StreamPoller | None = None
        self.api_url = f"http://127.0.0.1:{config.api_port}"
        self.log = DynamoEventLog.of(clients)

    def queue_url(self, service: str) -> str:
        return self.resources[self.settings.names.queue(service)]

    def dead_letter_queue_url(self, service: str) -> str:
        return self.resources[self.settings.names.dead_letter_queue(service)]

    async def start_worker(self, service: Service, tg: anyio.abc.TaskGroup) -> Worker:
        """The service's worker on its queue, and the sweeper of its dead-letter queue."""
        processor = Processor(service, self.log)
        queue, dlq = self.queue_url(service.name), self.dead_letter_queue_url(service.name)
        worker = Worker(
            processor,
            self.clients.sqs,
            queue_url=queue,
            dead_letter_queue_url=dlq,
            wait_time_s=self.config.worker_wait_s,
        )
        sweeper = DeadLetterSweeper(processor, self.clients.sqs, queue_url=queue, dead_letter_queue_url=dlq)
        await tg.start(worker.run)
        await tg.start(sweeper.run)
        self.workers[service.name] = worker
        self.sweepers[service.name] = sweeper
        return worker

    def stop(self) -> None:
        for w in self.workers.values():
            w.stop()
        for s in self.sweepers.values():
            s.stop()
        if self.relay:
            self.relay.stop()


@contextlib.asynccontextmanager
async def running_stack(
    config: StackConfig, *, topology: Topology = TOPOLOGY, extra_services: tuple[Service, ...] = ()
) -> AsyncIterator[Stack]:
    """Start everything; on exit stop the workers gracefully, then the API, relay and emulator."""
    state_dir = Path(config.state_dir)
    with stack_lock(state_dir):
        # the API's token issuer: its key is made on the first start here and kept (auth/issuer.pem, 0600)
        issuer = await anyio.to_thread.run_sync(LocalIssuer.load_or_create, state_dir)
        tmp_dir = Path(config.settings.tmp_dir or state_dir / "tmp")
        # persistence hook 1: forget the kept state if asked; empty the stack's own tmp (a killed run's)
        kept = persistence.prepare(
            state_dir, fresh=config.fresh, own_tmp_dir=None if config.base.tmp_dir else tmp_dir
        )
        await anyio.Path(tmp_dir).mkdir(parents=True, exist_ok=True)
        for port, what in ((config.emulator_port, "the AWS emulator"), (config.api_port, "the API")):
            if port_in_use(port) and (port == config.emulator_port or config.run_api):
                raise StackAlreadyRunning(
                    f"port {port} (for {what}) is already in use: is another Shoebox "
                    "stack or program running there?"
                )
        emulator = Emulator(
            config.emulator_port,
            in_process=config.emulator_in_process,
            log_path=str(state_dir / "emulator.log"),
            state_dir=str(kept) if config.persist else None,  # persistence hook 2
        )
        emulator.spawn()  # on this (long-lived) thread: see Emulator.spawn
        try:
            await anyio.to_thread.run_sync(emulator.ready)
            async with Clients(config.settings) as clients:
                full = Topology(
                    consumers=topology.consumers + tuple(s.consumer for s in extra_services),
                    state_machines=topology.state_machines,
                )
                resources = await provision(clients, full)  # fills the restored resources back
                if config.persist:
                    await persistence.restart_sagas(clients)  # persistence hook 3
                stack = Stack(config, emulator, clients, resources, full, issuer)
                async with anyio.create_task_group() as tg:
                    if config.run_relay:
                        stack.relay = StreamPoller(
                            stack.settings,
                            clients.dynamodb,
                            clients.streams,
                            clients.events,
                            poll_interval_s=config.relay_poll_s,
                        )
                        await tg.start(stack.relay.run)
                    wanted = (
                        config.services
                        if config.services is not None
                        else tuple(c.service for c in topology.consumers)
                    )
                    for name in wanted:
                        build = service_builder(name)
                        if build is not None:
                            await stack.start_worker(build(clients), tg)
                    for svc in extra_services:
                        await stack.start_worker(svc, tg)
                    api_server = None
                    if config.run_api:
                        api_server = await _start_api(stack, tg)
                    (state_dir / "stack.json").write_bytes(
                        msgspec.json.encode(
                            StackInfo(
                                pid=os.getpid(),
                                aws_endpoint=emulator.endpoint,
                                api_url=stack.api_url,
                                prefix=stack.settings.aws.prefix,
                            )
                        )
                    )
                    try:
                        yield stack
                    finally:
                        stack.stop()
                        if api_server is not None:
                            api_server.should_exit = True
        finally:
            await anyio.to_thread.run_sync(emulator.stop)


async def _start_api(stack: Stack, tg: anyio.abc.TaskGroup) -> Any:
    import uvicorn

    from services.api.app import create_app
    from services.api.wiring import on_aws

    app = create_app(stack.settings, collaborators=on_aws(stack.clients), issuer=stack.issuer)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=stack.config.api_port,
            log_config=None,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=5,  # an open event stream must not hold up Ctrl-C
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # the stack owns signals
    tg.start_soon(server.serve)
    while not server.started:  # noqa: ASYNC110  # uvicorn offers no event for this
        await anyio.sleep(0.02)
    return server
