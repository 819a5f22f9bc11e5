"""Bodies of the SQS messages EventBridge delivers, for tests that send them to a queue themselves."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.events.codec import encode


def s3_event_body(bucket: str, key: str, size: int, etag: str) -> str:
    """The body EventBridge delivers to SQS for an S3 Object Created (the emulator's shape)."""
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "time": "2026-11-23T14:06:43Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key, "size": size, "eTag": etag, "sequencer": "1"},
                "reason": "PutObject",
            },
        }
    )


def bus_body(event: Any) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": type(event).family(),
            "source": event.source,
            "detail": json.loads(encode(event)),
        }
    )
