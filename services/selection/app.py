"""Wiring: the selection service with its real dependencies and the configured AI provider."""

from __future__ import annotations

import functools
import logging

from services.selection import handlers, selection_handler
from services.selection.gemini import GeminiTriage
from services.selection.gemini_selection import GeminiSelection
from services.selection.offline_selection import OfflineSelection
from services.selection.providers import OfflineTriage, TriageProvider
from services.selection.selection_provider import SelectionProvider
from services.selection.topology import CONSUMER
from shared.events import catalogue as c
from shared.runtime.aws import Clients
from shared.runtime.config import Settings
from shared.runtime.gemini import gemini_caller, gemini_configured
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import ObjectStore, S3ObjectStore

log = logging.getLogger("shoebox.selection")


def triage_provider(settings: Settings, store: ObjectStore) -> TriageProvider:
    """Gemini when a key (or its SSM parameter) is configured; the offline provider otherwise."""
    if gemini_configured(settings):
        log.info("triage provider: gemini (model %s)", settings.ai.triage_model)
        return GeminiTriage(gemini_caller(settings), store)
    return OfflineTriage()


def selection_provider(settings: Settings, store: ObjectStore) -> SelectionProvider:
    """Gemini when a key (or its SSM parameter) is configured; the offline provider otherwise."""
    if gemini_configured(settings):
        log.info("selection provider: gemini (model %s)", settings.ai.selection_model)
        return GeminiSelection(gemini_caller(settings), store)
    return OfflineSelection()


def build(clients: Clients) -> Service:
    names = clients.settings.names
    store = S3ObjectStore(clients.s3, names.media_bucket)
    deps = handlers.Deps(
        store=store,
        log=DynamoEventLog.of(clients),
        provider=triage_provider(clients.settings, store),
    )
    selection = selection_handler.Deps(
        store=deps.store, log=deps.log, provider=selection_provider(clients.settings, store)
    )
    return Service(
        CONSUMER,
        {
            c.TriageRequested: functools.partial(handlers.handle_triage_requested, deps=deps),
            c.SelectionRequested: functools.partial(handlers.handle_selection_requested, deps=selection),
        },
        on_give_up=handlers.on_give_up,
    )
