"""AWS Lambda entrypoint behind API Gateway (HTTP API, payload 2.0): ``services.api.lambda_function.handler``.

A thin ASGI adapter (Mangum) around the same app uvicorn serves locally. The app and its token verifier are
built once per Lambda container (on import), so the JWKS cache outlives single invocations. Mangum runs the
app's lifespan around each invocation (``lifespan="auto"``); the AWS clients are opened by the first one
and kept (``wiring.once_per_process``), so warm invocations reuse their connections. Configuration comes
from the environment: ``Settings.from_env()`` and ``SHOEBOX_AUTH_ISSUER``/``_AUDIENCE``/``_JWKS_URL``
(``services.api.auth``).
"""

from typing import cast

from mangum import Mangum
from mangum.types import ASGI

from services.api.app import create_app
from services.api.wiring import once_per_process
from shared.runtime.config import Settings

settings = Settings.from_env()
app = create_app(settings, collaborators=once_per_process(settings))
# cast: Litestar types its ASGI scope as TypedDicts, Mangum's protocol as plain mappings; the same thing
handler = Mangum(cast(ASGI, app), lifespan="auto")
