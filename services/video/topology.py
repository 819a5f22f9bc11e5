"""What video consumes: one video to enhance."""

from shared.events import catalogue as c
from shared.runtime.topology import Consumer

CONSUMER = Consumer(
    service="video",
    handles=(c.VideoEnhanceRequested,),
    handler_timeout_s=900,
    concurrency=1,
    batch_size=1,
    memory_mb=4096,
    needs_ffmpeg=True,
)
