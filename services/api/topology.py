"""What the api consumes besides HTTP: its sagas' commands (Step Functions -> SQS, no bus rule), S3's
``Object Created`` under ``uploads/`` (each upload is pending until media_process decides it), and the
enhancement job's chunks (``enhancement.requested``: the fan-out to one request per item, ``fanout.py``)
and its feedback requests (routed to the item's service)."""

from shared.events import catalogue as c
from shared.runtime.inbound import ObjectCreated, SagaCommand
from shared.runtime.topology import Consumer, StateMachine

CONSUMER = Consumer(
    service="api",
    handles=(SagaCommand, ObjectCreated, c.EnhancementRequested, c.EnhancementFeedbackRequested),
    handler_timeout_s=30,
    concurrency=8,
    memory_mb=512,
)

TRIAGE_SAGA = StateMachine(name="triage", definition="deploy/sagas/triage.asl.json")
SELECTION_SAGA = StateMachine(name="selection", definition="deploy/sagas/selection.asl.json")
ENHANCEMENT_SAGA = StateMachine(name="enhancement", definition="deploy/sagas/enhancement.asl.json")
