"""What selection consumes: requests for triage verdicts (and, with the selection issue, for a selection)."""

from shared.events import catalogue as c
from shared.runtime.topology import Consumer

CONSUMER = Consumer(
    service="selection",
    # shoebox.selection.requested joins when the selection handler is built (the selection issue)
    handles=(c.TriageRequested,),
    handler_timeout_s=600,  # an AI provider over a large session
    concurrency=4,
    batch_size=1,
    memory_mb=2048,
)
