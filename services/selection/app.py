"""Wiring: the selection service with its real dependencies and the configured AI provider."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping

from services.selection import handlers
from services.selection.providers import OfflineTriage, TriageProvider
from services.selection.topology import CONSUMER
from shared.events import catalogue as c
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import S3ObjectStore

log = logging.getLogger("shoebox.selection")

#: the Gemini API key; unset or empty: the offline provider
GEMINI_KEY_ENV = "SHOEBOX_GEMINI_API_KEY"


def triage_provider(env: Mapping[str, str] | None = None) -> TriageProvider:
    """Offline unless a Gemini key is configured (and even then, until the Gemini provider exists)."""
    env = os.environ if env is None else env
    if env.get(GEMINI_KEY_ENV, "").strip():
        log.warning(
            "%s is set but the Gemini triage provider is not built yet; using the offline provider",
            GEMINI_KEY_ENV,
        )
    return OfflineTriage()


def build(clients: Clients) -> Service:
    names = clients.settings.names
    deps = handlers.Deps(
        store=S3ObjectStore(clients.s3, names.media_bucket),
        log=DynamoEventLog.of(clients),
        provider=triage_provider(),
    )
    return Service(
        CONSUMER,
        {c.TriageRequested: functools.partial(handlers.handle_triage_requested, deps=deps)},
        on_give_up=handlers.on_give_up,
    )
