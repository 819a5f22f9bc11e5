"""AWS Lambda entrypoint behind API Gateway (HTTP API, payload 2.0): ``services.api.lambda_function.handler``.

A thin ASGI adapter (Mangum) around the same app uvicorn serves locally. The app and its token verifier are
built once per Lambda container (on import), so the JWKS cache outlives single invocations. Mangum runs the
app's lifespan around each invocation (``lifespan="auto"``); the AWS clients are opened by the first one
and kept (``keep_clients``), so warm invocations reuse their connections. Configuration comes from the
environment: ``Settings.from_env()`` and ``SHOEBOX_AUTH_ISSUER``/``_AUDIENCE``/``_JWKS_URL``
(``services.api.auth``).
"""

from typing import cast

from mangum import Mangum
from mangum.types import ASGI

from services.api.app import create_app
from shared.runtime.config import Settings

# cast: Litestar types its ASGI scope as TypedDicts, Mangum's protocol as plain mappings; the same thing
handler = Mangum(cast(ASGI, create_app(Settings.from_env(), keep_clients=True)), lifespan="auto")
