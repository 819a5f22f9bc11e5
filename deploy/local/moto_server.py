"""``python -m deploy.local.moto_server [--state DIR] -H HOST -p PORT``: moto server with the embedded
stack's patches; with ``--state``, its state kept in DIR across restarts (deploy/local/moto_persistence.py).
It answers only requests signed with the stack's credentials, which it reads from its environment
(``SHOEBOX_AWS_ACCESS_KEY_ID``, ``SHOEBOX_AWS_SECRET_ACCESS_KEY``: ``Settings.from_env``); without them it
does not start (``deploy/local/emulator_auth.py``).

moto's own ``moto_server`` runs werkzeug's development server, which answers every request with
``Connection: close`` and starts a thread per connection: every AWS call of every process of the stack
paid a TCP connect (with aiohttp's happy-eyeballs) and a thread start on each side (1,000 photos with 20
pollers: 22 s of the API process's 115 s of CPU were spent connecting; docs/benchmarks.md "Scale"). Here
moto's WSGI application is served by waitress instead: HTTP/1.1 keep-alive connections, a fixed pool of
threads (a long-polling ``ReceiveMessage`` holds one for up to 20 s, so the pool is sized well past the
stack's receivers), request bodies buffered to disk past ``inbuf_overflow`` before the app sees them.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from deploy.local import moto_patches
from deploy.local.credentials import Credentials
from deploy.local.emulator_auth import SignedOnly
from shared.runtime.config import Settings

#: request threads: the stack's long polls (a worker and a dead-letter sweeper per service, the relay,
#: test observers) each hold one for up to 20 s, and everything else must still get through
THREADS = 48
#: connections kept open at once (each of the stack's processes keeps a pool of up to 64 per client)
CONNECTION_LIMIT = 2000
#: S3 takes objects up to 5 GiB in one PUT; the API's limits are far below (the default is 1 GiB)
MAX_BODY_BYTES = 5 * 1024**3


def application(credentials: Credentials) -> Any:
    """moto's WSGI application (every service, dispatched by host and path), as ``moto_server`` builds it,
    behind the signature check: only requests signed with ``credentials`` reach it."""
    from moto.moto_server import werkzeug_app

    # moto adds ``Access-Control-Allow-Origin: *`` to every answer unless its global CORS is off
    # (MOTO_DISABLE_GLOBAL_CORS, read when moto is imported: set here too for an emulator in process);
    # S3's answers then carry the bucket's own CORS rule, as on AWS
    setattr(werkzeug_app, "DISABLE_GLOBAL_CORS", True)  # noqa: B010  # moto reads it as a module global
    moto = werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)
    return SignedOnly(moto, credentials)


def make_server(host: str, port: int, credentials: Credentials) -> Any:
    """A waitress server for moto's application on ``host:port`` (listening already; ``run()`` serves,
    ``close()`` stops), answering requests signed with ``credentials`` only. Apply ``moto_patches``
    (and persistence) first."""
    from waitress.server import create_server

    moto_patches.sign_service_integrations(credentials)
    return create_server(
        application(credentials),
        host=host,
        port=port,
        threads=THREADS,
        connection_limit=CONNECTION_LIMIT,
        max_request_body_size=MAX_BODY_BYTES,
        asyncore_use_poll=True,  # select() stops at 1,024 descriptors
        clear_untrusted_proxy_headers=False,  # S3 clients send X-Forwarded-* only through proxies we trust
        ident="moto",
        expose_tracebacks=False,
    )


def _take_state(argv: list[str]) -> Path | None:
    """Remove ``--state DIR`` from ``argv`` and return DIR."""
    if "--state" not in argv:
        return None
    at = argv.index("--state")
    state = Path(argv[at + 1])
    del argv[at : at + 2]
    return state


def _option(argv: list[str], short: str, default: str) -> str:
    return argv[argv.index(short) + 1] if short in argv else default


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # waitress's loop closes its sockets and joins its threads on SystemExit


def main(argv: list[str]) -> None:
    state = _take_state(argv)
    credentials = Credentials.of(Settings.from_env())
    if credentials is None:
        raise SystemExit("the emulator needs the stack's credentials (Settings.aws): it accepts no others")
    moto_patches.apply()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger("waitress").addHandler(handler)  # refused connections, errors
    # "Task queue depth is N" whenever every thread is busy: the emulator's one lock makes that common
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # refused requests, and what persistence restored or could not, go to the emulator's log (its stderr)
    logging.getLogger("shoebox").addHandler(handler)
    logging.getLogger("shoebox").setLevel(logging.INFO)
    if state is not None:
        from deploy.local import moto_persistence

        moto_persistence.install(state)
    server = make_server(_option(argv, "-H", "127.0.0.1"), int(_option(argv, "-p", "5000")), credentials)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
