"""What selection consumes: requests for triage verdicts and for a selection."""

from shared.events import catalogue as c
from shared.runtime.topology import Consumer

CONSUMER = Consumer(
    service="selection",
    handles=(c.TriageRequested, c.SelectionRequested),
    handler_timeout_s=600,  # an AI provider over a large session
    concurrency=4,
    batch_size=1,
    memory_mb=2048,
)
