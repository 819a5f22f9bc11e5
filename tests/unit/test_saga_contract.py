"""One contract, every saga starter: in memory and Step Functions (on the emulator). The in-process API
tests read the executions the in-memory starter records; this holds it to what Step Functions does with
the same starts (a repeated start is the same execution, a new name a new one, an unknown saga refused)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from services.api.topology import TRIAGE_SAGA
from shared.runtime.aws import Clients
from shared.runtime.sagas import (
    InMemorySagaStarter,
    SagaNotDeployed,
    SagaStarter,
    SqsCommandQueue,
    StepFunctionsSagaStarter,
)
from tests.support.stack import RunningStack

pytestmark = pytest.mark.anyio


@dataclasses.dataclass
class Starter:
    starter: SagaStarter
    #: the names of the executions of the triage saga that exist
    executions: Callable[[], Awaitable[set[str]]]
    #: where the saga sends its commands (it runs on the emulator: a real queue)
    commands_url: str = "memory://commands"


@pytest.fixture(
    params=[
        "memory",
        pytest.param("stepfunctions", marks=pytest.mark.stack),
        pytest.param("stepfunctions-arn-prefix", marks=pytest.mark.stack),
    ]
)
async def s(request: pytest.FixtureRequest) -> AsyncIterator[Starter]:
    if request.param == "memory":
        memory = InMemorySagaStarter(deployed={TRIAGE_SAGA.name})

        async def recorded() -> set[str]:
            return {e.name for e in memory.executions.values() if e.saga == TRIAGE_SAGA.name}

        yield Starter(memory, recorded)
        return
    stack: RunningStack = request.getfixturevalue("emulator_only")
    names = stack.settings.names
    async with Clients(stack.settings) as clients:
        arn = stack.stack.resources[names.state_machine(TRIAGE_SAGA.name)]

        async def started() -> set[str]:
            pages = clients.sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
            return {e["name"] async for page in pages for e in page["executions"]}

        queue = await SqsCommandQueue(clients.sqs, names, "api").url()
        # on AWS the ARNs come from the environment (no ListStateMachines): the prefix is the ARN's head
        prefix = arn.rsplit(":", 1)[0] + ":" if request.param == "stepfunctions-arn-prefix" else ""
        yield Starter(StepFunctionsSagaStarter(clients.sfn, names, arn_prefix=prefix), started, queue)


def saga_input(s: Starter, job: str, attempt: int) -> dict[str, Any]:
    """A triage saga's input for a session that does not exist, with budgets of one poll: on the
    emulator it ends at its first deadline."""
    return {
        "session_id": str(uuid.uuid4()),
        "job_id": job,
        "attempt": attempt,
        "attempt_text": str(attempt),
        "budget": {"left": 1, "finalized": False},
        "deadline_polls": 1,
        "verdict_polls": {"left": 1},
        "views_table": "contract-views",
        "api_queue_url": s.commands_url,
    }


async def test_a_repeated_start_is_the_same_execution_and_a_retry_a_new_one(s: Starter) -> None:
    job = "tri-" + uuid.uuid4().hex[:20]
    first = saga_input(s, job, 1)
    await s.starter.start(TRIAGE_SAGA.name, f"{job}-a1", first)
    await s.starter.start(TRIAGE_SAGA.name, f"{job}-a1", first)  # a repeated request: no error
    assert {n for n in await s.executions() if n.startswith(job)} == {f"{job}-a1"}
    await s.starter.start(TRIAGE_SAGA.name, f"{job}-a2", saga_input(s, job, 2))
    assert {n for n in await s.executions() if n.startswith(job)} == {f"{job}-a1", f"{job}-a2"}


async def test_a_saga_that_is_not_deployed_is_refused(s: Starter) -> None:
    with pytest.raises(SagaNotDeployed):
        await s.starter.start("no-such-saga", f"x-{uuid.uuid4().hex}", {})
