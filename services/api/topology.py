"""What the api consumes besides HTTP: its sagas' commands (Step Functions -> SQS, no bus rule)."""

from shared.runtime.inbound import SagaCommand
from shared.runtime.topology import Consumer, StateMachine

CONSUMER = Consumer(
    service="api",
    handles=(SagaCommand,),
    handler_timeout_s=30,
    concurrency=8,
    memory_mb=512,
)

TRIAGE_SAGA = StateMachine(name="triage", definition="deploy/sagas/triage.asl.json")
