"""Starting sagas, and where they send their commands: two small interfaces, Step Functions and SQS behind
them, and twins in memory for tests that run without the emulator.

A saga (``deploy/sagas/<name>.asl.json``) is started by name with a JSON input; starting an execution
whose name is taken changes nothing, so a repeated request is harmless and a retry (a new attempt, a new
name) never collides. Its steps send commands to a service's queue (``SagaCommand``), whose URL the
starter puts in the input.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from botocore.exceptions import ClientError

from shared.runtime.config import Names

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_stepfunctions import SFNClient

log = logging.getLogger("shoebox.sagas")


class SagaNotDeployed(LookupError):
    """No state machine of that saga in this account and region (or stack)."""


class SagaStarter(abc.ABC):
    """Starts executions of the sagas."""

    @abc.abstractmethod
    async def start(self, saga: str, execution: str, input: Mapping[str, Any]) -> None:
        """Start an execution of ``saga`` (``"triage"``) named ``execution`` with ``input``. When an
        execution of that name exists it is left as it is. Raises ``SagaNotDeployed``."""


class StepFunctionsSagaStarter(SagaStarter):
    """Sagas as Step Functions state machines named ``Names.state_machine(saga)``. With ``arn_prefix``
    (``arn:aws:states:<region>:<account>:stateMachine:``, on AWS) a saga's ARN is that prefix and its name,
    so the caller's IAM policy needs ``states:StartExecution`` on those machines alone; without, each ARN is
    looked up on its first start (``ListStateMachines``, which IAM cannot scope) and kept for the process."""

    def __init__(self, sfn: SFNClient, names: Names, *, arn_prefix: str = "") -> None:
        self.sfn = sfn
        self.names = names
        self.arn_prefix = arn_prefix
        self._arns: dict[str, str] = {}

    async def _arn(self, saga: str) -> str:
        if (known := self._arns.get(saga)) is not None:
            return known
        wanted = self.names.state_machine(saga)
        if self.arn_prefix:
            return self.arn_prefix + wanted
        arn = None
        async for page in self.sfn.get_paginator("list_state_machines").paginate():
            arn = next((m["stateMachineArn"] for m in page["stateMachines"] if m["name"] == wanted), arn)
        if arn is None:
            raise SagaNotDeployed(wanted)
        self._arns[saga] = arn
        return arn

    async def start(self, saga: str, execution: str, input: Mapping[str, Any]) -> None:
        arn = await self._arn(saga)
        try:
            await self.sfn.start_execution(stateMachineArn=arn, name=execution, input=json.dumps(input))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "StateMachineDoesNotExist":  # only an ARN from the prefix can name no machine
                raise SagaNotDeployed(arn) from None
            if code != "ExecutionAlreadyExists":
                raise
            log.info("saga %s already started", execution)


class Execution(msgspec.Struct, frozen=True):
    """An execution the in-memory starter was asked for."""

    saga: str
    name: str
    input: dict[str, Any]


class InMemorySagaStarter(SagaStarter):
    """Records the executions it starts (the first start of each name) instead of running them."""

    def __init__(self, deployed: Collection[str] | None = None) -> None:
        #: the sagas that exist (None: every one)
        self.deployed = deployed
        #: by execution name, in the order they were started
        self.executions: dict[str, Execution] = {}

    async def start(self, saga: str, execution: str, input: Mapping[str, Any]) -> None:
        if self.deployed is not None and saga not in self.deployed:
            raise SagaNotDeployed(saga)
        # through JSON, as Step Functions takes it: what a test reads back is what the saga would get
        self.executions.setdefault(execution, Execution(saga, execution, json.loads(json.dumps(input))))


class CommandQueue(abc.ABC):
    """The queue a service takes its sagas' commands from."""

    @abc.abstractmethod
    async def url(self) -> str:
        """Where a saga sends the commands (an SQS queue URL)."""


class SqsCommandQueue(CommandQueue):
    """The service's SQS queue (``Names.queue(service)``); its URL is looked up once."""

    def __init__(self, sqs: SQSClient, names: Names, service: str) -> None:
        self.sqs = sqs
        self.queue_name = names.queue(service)
        self._url: str | None = None

    async def url(self) -> str:
        if self._url is None:
            self._url = (await self.sqs.get_queue_url(QueueName=self.queue_name))["QueueUrl"]
        return self._url


class InMemoryCommandQueue(CommandQueue):
    """A fixed address: nothing in memory reads from it (tests hand commands to the handler)."""

    def __init__(self, address: str = "memory://commands") -> None:
        self.address = address

    async def url(self) -> str:
        return self.address
