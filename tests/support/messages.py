"""Bodies of the SQS messages EventBridge delivers, for tests that send them to a queue themselves."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.events.codec import encode


def s3_event_body(bucket: str, key: str, size: int, etag: str, sequencer: str = "1") -> str:
    """The body EventBridge delivers to SQS for an S3 Object Created (the emulator's shape). S3 gives each
    write of a key its own ``sequencer``; a redelivered announcement keeps it."""
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
                "object": {"key": key, "size": size, "eTag": etag, "sequencer": sequencer},
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


def saga_command_body(
    command: str, session_id: str, job_id: str, attempt: int = 1, *, timed_out: bool = False
) -> str:
    """The body a saga step sends to the api's queue (``deploy/sagas/triage.asl.json``): one id per
    execution and step, whatever the retries."""
    return json.dumps(
        {
            "source": "shoebox.saga",
            "detail-type": "Saga Command",
            "id": f"{job_id}-a{attempt}:{command}",
            "detail": {
                "command": command,
                "session_id": session_id,
                "job_id": job_id,
                "attempt": attempt,
                "timed_out": timed_out,
            },
        }
    )
