"""What the api consumes besides HTTP: its sagas' commands (Step Functions -> SQS, no bus rule), and S3's
``Object Created`` under ``uploads/`` (each upload is pending until media_process decides it)."""

from shared.runtime.inbound import ObjectCreated, SagaCommand
from shared.runtime.topology import Consumer, StateMachine

CONSUMER = Consumer(
    service="api",
    handles=(SagaCommand, ObjectCreated),
    handler_timeout_s=30,
    concurrency=8,
    memory_mb=512,
)

TRIAGE_SAGA = StateMachine(name="triage", definition="deploy/sagas/triage.asl.json")
SELECTION_SAGA = StateMachine(name="selection", definition="deploy/sagas/selection.asl.json")
