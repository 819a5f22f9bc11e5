"""The embedded stack: the emulator, provisioned from the topology, plus every worker, the relay and the
API, in one process tree. ``shoebox up`` runs it in the foreground; tests start it on free ports.

By default (``StackConfig.processes``) each service's worker, the relay and the API run in processes of
their own under a supervisor (``supervisor.py``), as each is a Lambda of its own on AWS: one crash takes
nothing else down, and the supervisor starts the dead process again. Extra services that a test or a
benchmark passes in (``extra_services``) run in this process, as does everything when ``processes`` is off.

One lock per state directory (``.shoebox/``) and a port check make a second ``shoebox up`` say that a
stack is already running instead of failing on a port.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec

from deploy.local import credentials as stack_credentials
from deploy.local import persistence
from deploy.local.emulator import Emulator, port_in_use
from deploy.local.processes import API, RELAY, ProcessPlan, worker_name
from deploy.local.provision import Provisioned, provision
from deploy.local.services import service_builder
from deploy.local.supervisor import Supervisor
from deploy.topology import TOPOLOGY
from services.api.auth import LocalIssuer
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.dead_letters import DeadLetterSweeper
from shared.runtime.faults import NONE, Faults
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
    #: how long a receive hides a message from other workers; the worker's heartbeat extends it while the
    #: handler runs, so this bounds how long a message waits after its worker died (the queue's own
    #: visibility, sized for Lambda, is six times the handler timeout: 90 minutes for media_process)
    visibility_s: int = 20
    #: every service worker, the relay and the API in processes of their own under a supervisor
    processes: bool = True
    #: test-only fault injection, passed to every processor (``shared/runtime/faults.py``)
    faults: Faults = NONE
    #: keep the emulator's state in ``state_dir/emulator`` across restarts (docs/persistence.md)
    persist: bool = True
    #: forget the kept state before starting (``shoebox up --fresh``)
    fresh: bool = False
    #: the rest of the configuration (media limits, budgets, telemetry, ...); the defaults unless given.
    #: Its AWS credentials are replaced by the stack's own (``deploy/local/credentials.py``)
    base: Settings = msgspec.field(default_factory=Settings)

    @property
    def settings(self) -> Settings:
        """What every part of the stack runs with: ``base`` pointed at this stack's emulator, its API
        answering the stack's own address."""
        aws = msgspec.structs.replace(
            self.base.aws,
            endpoint=f"http://127.0.0.1:{self.emulator_port}",
            prefix=self.base.aws.prefix if self.prefix is None else self.prefix,
        )
        tmp_dir = self.base.tmp_dir or str(Path(self.state_dir).resolve() / "tmp")
        # the API answers its own address (by either name) and the hosts ``base`` adds, nothing else
        api = self.base.api.with_hosts(f"127.0.0.1:{self.api_port}", f"localhost:{self.api_port}")
        return msgspec.structs.replace(self.base, aws=aws, api=api, tmp_dir=tmp_dir)

    @property
    def api_origins(self) -> tuple[str, ...]:
        """The origins of the API's own pages (the upload page), which the media bucket's CORS rule
        allows, and the configured others (``SHOEBOX_AWS_CORS_ORIGINS``)."""
        own = (f"http://127.0.0.1:{self.api_port}", f"http://localhost:{self.api_port}")
        return own + tuple(o for o in self.base.aws.cors_origin_list if o not in own)


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
        #: the workers running in this process (every one when ``processes`` is off; else the extra ones)
        self.workers: dict[str, Worker] = {}
        self.sweepers: dict[str, DeadLetterSweeper] = {}
        self.relay: StreamPoller | None = None
        #: the processes of the workers, relay and API (when ``processes`` is on)
        self.supervisor: Supervisor | None = None
        self.api_url = f"http://127.0.0.1:{config.api_port}"
        self.log = DynamoEventLog.of(clients)

    def queue_url(self, service: str) -> str:
        return self.resources[self.settings.names.queue(service)]

    def dead_letter_queue_url(self, service: str) -> str:
        return self.resources[self.settings.names.dead_letter_queue(service)]

    async def start_worker(self, service: Service, tg: anyio.abc.TaskGroup) -> Worker:
        """The service's worker on its queue, and the sweeper of its dead-letter queue."""
        processor = Processor(service, self.log, faults=self.config.faults)
        queue, dlq = self.queue_url(service.name), self.dead_letter_queue_url(service.name)
        worker = Worker(
            processor,
            self.clients.sqs,
            queue_url=queue,
            dead_letter_queue_url=dlq,
            wait_time_s=self.config.worker_wait_s,
            visibility_s=self.config.visibility_s,
        )
        sweeper = DeadLetterSweeper(processor, self.clients.sqs, queue_url=queue, dead_letter_queue_url=dlq)
        await tg.start(worker.run)
        await tg.start(sweeper.run)
        self.workers[service.name] = worker
        self.sweepers[service.name] = sweeper
        return worker

    def process_names(self) -> list[str]:
        """What runs: the supervised processes and this process's workers."""
        names = list(self.supervisor.children) if self.supervisor else []
        return names + [worker_name(w) + " (in process)" for w in self.workers]

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
        # the stack's AWS credentials, made and kept the same way (auth/aws-credentials.json, 0600): the
        # emulator accepts no others, and every process of the stack signs with them
        keys = await anyio.to_thread.run_sync(stack_credentials.load_or_create, state_dir)
        config = msgspec.structs.replace(config, base=keys.applied_to(config.base))
        tmp_dir = Path(config.settings.tmp_dir or state_dir / "tmp")
        # persistence hook 1: forget the kept state if asked; empty the stack's own tmp (a killed run's)
        own_tmp_dir = None if config.base.tmp_dir else tmp_dir
        kept = await anyio.to_thread.run_sync(
            lambda: persistence.prepare(state_dir, fresh=config.fresh, own_tmp_dir=own_tmp_dir)
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
            credentials=keys,
        )
        emulator.spawn()  # on this (long-lived) thread: see Emulator.spawn
        try:
            await anyio.to_thread.run_sync(emulator.ready)
            async with Clients(config.settings) as clients:
                full = Topology(
                    consumers=topology.consumers + tuple(s.consumer for s in extra_services),
                    state_machines=topology.state_machines,
                )
                # fills the restored resources back
                resources = await provision(clients, full, cors_origins=config.api_origins)
                if config.persist:
                    await persistence.restart_sagas(clients)  # persistence hook 3
                stack = Stack(config, emulator, clients, resources, full, issuer)
                wanted = (
                    config.services
                    if config.services is not None
                    else tuple(c.service for c in topology.consumers)
                )
                wanted = tuple(n for n in wanted if service_builder(n) is not None)
                async with anyio.create_task_group() as tg:
                    if config.processes:
                        names = [worker_name(n) for n in wanted]
                        names += [RELAY] if config.run_relay else []
                        names += [API] if config.run_api else []
                        stack.supervisor = _supervisor(stack, names)
                        if names:
                            await tg.start(stack.supervisor.run)
                    else:
                        await _start_in_process(stack, wanted, tg)
                    for svc in extra_services:
                        await stack.start_worker(svc, tg)
                    api_server = None
                    if config.run_api and not config.processes:
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
                        if stack.supervisor is not None:
                            with anyio.CancelScope(shield=True):
                                await stack.supervisor.stop()
        finally:
            log.info("stopping the AWS emulator")
            await anyio.to_thread.run_sync(emulator.stop)


def _supervisor(stack: Stack, names: list[str]) -> Supervisor:
    """The supervisor of the stack's processes, with their plan written where they read it (0600: it
    holds the configuration, keys included)."""
    config = stack.config
    state_dir = Path(config.state_dir).resolve()
    plan = ProcessPlan(
        settings=stack.settings,
        state_dir=str(state_dir),
        resources=dict(stack.resources),
        api_port=config.api_port,
        worker_wait_s=config.worker_wait_s,
        visibility_s=config.visibility_s,
        relay_poll_s=config.relay_poll_s,
        faults=config.faults,
    )
    (state_dir / "run").mkdir(parents=True, exist_ok=True)
    plan_path = state_dir / "run" / "plan.json"
    fd = os.open(plan_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(plan))
    return Supervisor(plan_path, state_dir, names)


async def _start_in_process(stack: Stack, services: tuple[str, ...], tg: anyio.abc.TaskGroup) -> None:
    """The relay and every service's worker in this process (``processes`` off)."""
    if stack.config.run_relay:
        stack.relay = StreamPoller(
            stack.settings,
            stack.clients.dynamodb,
            stack.clients.streams,
            stack.clients.events,
            poll_interval_s=stack.config.relay_poll_s,
        )
        await tg.start(stack.relay.run)
    for name in services:
        build = service_builder(name)
        assert build is not None
        await stack.start_worker(build(stack.clients), tg)


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
