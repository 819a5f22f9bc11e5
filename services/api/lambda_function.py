"""AWS Lambda entrypoint behind API Gateway (HTTP API, payload 2.0): ``services.api.lambda_function.handler``.

A thin ASGI adapter (Mangum) around the same app uvicorn serves locally. The configuration is read from the
environment (``Settings.from_env()``: the AWS resources, ``settings.auth`` for the token verifier, the
triage and stream budgets) on the first invocation, not on import, and the app and its token verifier are
built then, once per Lambda container, so the JWKS cache outlives single invocations. Mangum runs the app's
lifespan around each invocation (``lifespan="auto"``); the AWS clients are opened by the first one and kept
(``keep_clients``), so warm invocations reuse their connections.
"""

from typing import Any, cast

from mangum import Mangum
from mangum.types import ASGI, LambdaContext, LambdaEvent

from services.api.app import create_app
from shared.runtime.config import Settings

#: the adapter around the app, built by the first invocation
_adapter: list[Mangum] = []


def handler(event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
    """The Lambda function: the first call (the cold start) reads the settings and builds the app."""
    if not _adapter:
        settings = Settings.from_env()
        # cast: Litestar types its ASGI scope as TypedDicts, Mangum's protocol as plain mappings; the same
        app = cast(ASGI, create_app(settings, keep_clients=True))
        _adapter.append(Mangum(app, lifespan="auto"))
    return _adapter[0](event, context)
