"""Wiring: the selection service with its real dependencies and the configured AI provider."""

from __future__ import annotations

import functools
import logging

from services.selection import handlers, selection_handler
from services.selection.offline_selection import OfflineSelection
from services.selection.providers import OfflineTriage, TriageProvider
from services.selection.selection_provider import SelectionProvider
from services.selection.topology import CONSUMER
from shared.events import catalogue as c
from shared.runtime.aws import Clients
from shared.runtime.config import AiSettings
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import S3ObjectStore

log = logging.getLogger("shoebox.selection")


def triage_provider(ai: AiSettings) -> TriageProvider:
    """Offline unless a Gemini key is configured (``SHOEBOX_GEMINI_API_KEY``; and even then, until the
    Gemini provider exists)."""
    if ai.gemini_api_key.strip():
        log.warning(
            "SHOEBOX_GEMINI_API_KEY is set but the Gemini triage provider is not built yet; "
            "using the offline provider"
        )
    return OfflineTriage()


def selection_provider(ai: AiSettings) -> SelectionProvider:
    """Offline unless a Gemini key is configured (and, until the Gemini provider exists, offline then too)."""
    return OfflineSelection()


def build(clients: Clients) -> Service:
    names = clients.settings.names
    deps = handlers.Deps(
        store=S3ObjectStore(clients.s3, names.media_bucket),
        log=DynamoEventLog.of(clients),
        provider=triage_provider(clients.settings.ai),
    )
    selection = selection_handler.Deps(
        store=deps.store, log=deps.log, provider=selection_provider(clients.settings.ai)
    )
    return Service(
        CONSUMER,
        {
            c.TriageRequested: functools.partial(handlers.handle_triage_requested, deps=deps),
            c.SelectionRequested: functools.partial(handlers.handle_selection_requested, deps=selection),
        },
        on_give_up=handlers.on_give_up,
    )
