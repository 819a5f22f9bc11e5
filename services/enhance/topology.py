"""What enhance consumes: one photo to enhance (a first pass or another pass with the user's words)."""

from shared.events import catalogue as c
from shared.runtime.topology import Consumer

CONSUMER = Consumer(
    service="enhance",
    handles=(c.PhotoEnhanceRequested,),
    handler_timeout_s=300,
    concurrency=2,
    batch_size=1,
    memory_mb=2048,
)
