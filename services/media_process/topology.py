"""What media_process consumes: S3 ``Object Created`` under ``uploads/`` only."""

from shared.runtime.inbound import ObjectCreated
from shared.runtime.topology import Consumer

CONSUMER = Consumer(
    service="media_process",
    handles=(ObjectCreated,),
    handler_timeout_s=900,  # a 30-minute clip's preview; Lambda's own limit
    concurrency=2,  # CPU-bound work (libvips, ffmpeg): one per core
    memory_mb=3008,
    needs_ffmpeg=True,
)
