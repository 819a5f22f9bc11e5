"""AWS Lambda entrypoint (SQS event source): ``services.media_process.lambda_function.handler``."""

from shared.events.lambda_sqs import make_sqs_handler
from services.media_process.app import build

handler = make_sqs_handler(build)
