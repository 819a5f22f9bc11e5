"""AWS Lambda entrypoint (SQS event source): ``services.media_process.lambda_function.handler``."""

from services.media_process.app import build
from shared.events.lambda_sqs import make_sqs_handler

handler = make_sqs_handler(build)
