"""AWS Lambda entrypoint (SQS event source): ``services.video.lambda_function.handler``.

Its DLQ sweeper, run on a schedule: ``.sweep``."""

from services.video.app import build
from shared.runtime.lambda_sqs import make_dead_letter_sweeper, make_sqs_handler

handler = make_sqs_handler(build)
#: scheduled (the topology's ``dead_letter_sweep_minutes``): failures the redrive moved without a record
sweep = make_dead_letter_sweeper(build)
