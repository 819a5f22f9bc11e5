"""AWS Lambda entrypoint for the api's saga commands (SQS): ``services.api.lambda_consumer.handler``."""

from services.api.consumer import build
from shared.events.lambda_sqs import make_sqs_handler

handler = make_sqs_handler(build)
