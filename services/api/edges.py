"""The API's edges: what a request must look like before a route sees it, and what every answer carries.

- **Host**: the API answers only the hosts ``settings.api`` names (the embedded stack's own
  ``127.0.0.1:<port>`` and ``localhost:<port>``; on AWS, the API's domain). A page that rebinds its own DNS
  name to 127.0.0.1 cannot read the local API through the victim's browser: its requests carry its own
  name as ``Host`` and get a 400. Litestar's ``AllowedHostsConfig`` does the check.
- **JSON bodies** (``JsonRequest``): a route that takes a JSON body takes it only as ``Content-Type:
  application/json`` (UTF-8): anything else is a 415. A ``text/plain`` POST is one a web page on another
  origin can send without a CORS preflight; refusing it leaves a cross-site form nothing to post. A body
  that is not JSON at all answers 400 with a problem document, including the two msgspec lets through as
  Python errors: arrays nested deeper than the decoder recurses (``RecursionError``) and bytes that are not
  UTF-8 (``UnicodeDecodeError``). Neither is logged as a server error: it is the caller's mistake.
- **nosniff**: every answer (JSON, problem documents, thumbnails, the page, the OpenAPI document, the
  refusals above) carries ``X-Content-Type-Options: nosniff``, so no browser runs a JPEG or a JSON
  document as a script or a page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import ClientException
from litestar.types import Message, Scope

from shared.runtime.config import ApiSettings

JSON = "application/json"
NOSNIFF = ("X-Content-Type-Options", "nosniff")


class NoHosts(RuntimeError):
    """The API was given no host to answer (it would refuse every request)."""


def allowed_hosts(settings: ApiSettings) -> AllowedHostsConfig:
    """Litestar's host check for the configured hosts; ``NoHosts`` when there are none, or when one is
    ``*`` (which would switch the check off)."""
    hosts = list(settings.hosts)
    if not hosts:
        raise NoHosts(
            "the API needs SHOEBOX_API_ALLOWED_HOSTS (the host names it is reached by, e.g. its domain) to "
            "refuse requests for other hosts"
        )
    if "*" in hosts:
        raise NoHosts("SHOEBOX_API_ALLOWED_HOSTS may not be '*': name the hosts the API is reached by")
    # www_redirect off: a www. host is refused like any other, never redirected
    return AllowedHostsConfig(allowed_hosts=hosts, www_redirect=False)


class JsonRequest(Request[Any, Any, Any]):
    """The app's request class: a JSON body is read only when it is declared as JSON and decodes (see the
    module's doc); every refusal is an ``HTTPException``, answered as a problem document."""

    async def json(self) -> Any:
        media_type, options = self.content_type
        charset = options.get("charset", "utf-8").lower()
        if media_type != JSON or charset not in ("utf-8", "utf8"):
            sent = self.headers.get("Content-Type") or "none"
            raise ClientException(
                status_code=415,
                detail=f"the body must be JSON sent as 'Content-Type: {JSON}' (UTF-8); it was {sent[:100]!r}",
            )
        try:
            return await super().json()
        except RecursionError:
            raise ClientException(status_code=400, detail="the JSON body is nested too deeply") from None
        except UnicodeDecodeError:
            raise ClientException(status_code=400, detail="the JSON body is not valid UTF-8") from None


async def nosniff(message: Message, scope: Scope) -> None:
    """The app's ``before_send`` hook: ``X-Content-Type-Options: nosniff`` on every answer."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[NOSNIFF[0]] = NOSNIFF[1]
