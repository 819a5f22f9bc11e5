"""An example consumer of Shoebox's events: another team's worker, polling its own SQS queue.

The queue is subscribed to Shoebox's EventBridge bus by a rule of the team's own (docs/consuming-events.md).
It needs two packages: ``shoebox-events`` (the contracts: ``decode_message`` and the typed events) and
boto3 (its own AWS client: the contracts come without one)::

    pip install shoebox-events boto3
    python consume.py --queue-url https://sqs.<region>.amazonaws.com/<account>/<queue>

Each event is printed as one JSON line (type, session, what it says); a message that is not ours is left on
the queue, so that after the queue's maxReceiveCount its redrive policy moves it to the team's DLQ.
boto3 finds credentials, the region and an endpoint the usual way (``AWS_ENDPOINT_URL`` for an emulator).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import boto3
from shoebox_events import EventDecodeError, NotOurEvent, __version__, decode_message
from shoebox_events import catalogue as c


def describe(event: Any) -> dict[str, Any]:
    """What this consumer cares about in a few event types; every other type is printed by type alone."""
    line: dict[str, Any] = {
        "type": type(event).type_name(),
        "source": event.source,
        "session": event.sessionid,
        "id": event.id,
    }
    if isinstance(event, c.SessionCreatedV2):
        line["trip"] = event.data.trip.context
    elif isinstance(event, c.FileProcessed):
        line["file"] = event.data.file.name
        line["kind"] = event.data.kind
    elif isinstance(event, c.TriageCompleted):
        line["keep"], line["discard"] = event.data.keep, event.data.discard
    elif isinstance(event, c.UploadFinalized):
        line["uploaded"] = event.data.uploaded
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument(
        "--until-types",
        default="",
        help="comma-separated event types: stop once each has been received (default: run forever)",
    )
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    args = parser.parse_args(argv)
    wanted = {t for t in args.until_types.split(",") if t}
    deadline = time.monotonic() + args.timeout if args.timeout else None
    sqs = boto3.client("sqs")
    print(f"shoebox-events {__version__}: reading {args.queue_url}", file=sys.stderr, flush=True)
    seen: set[str] = set()
    while not (wanted and wanted <= seen):
        if deadline is not None and time.monotonic() > deadline:
            print(f"timed out; still waiting for {sorted(wanted - seen)}", file=sys.stderr)
            return 1
        received = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)
        for message in received.get("Messages", []):
            try:
                event = decode_message(message["Body"])
            except NotOurEvent as exc:
                print(f"not a Shoebox event, left for the DLQ: {exc}", file=sys.stderr)
                continue
            except EventDecodeError as exc:  # ours, but a version this wheel does not know yet: upgrade it
                print(f"cannot read (upgrade shoebox-events?): {exc}", file=sys.stderr)
                continue
            print(json.dumps(describe(event)), flush=True)
            seen.add(type(event).type_name())
            sqs.delete_message(QueueUrl=args.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
