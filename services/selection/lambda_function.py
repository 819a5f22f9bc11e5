"""AWS Lambda entrypoint (SQS event source): ``services.selection.lambda_function.handler``."""

from services.selection.app import build
from shared.events.lambda_sqs import make_sqs_handler

handler = make_sqs_handler(build)
