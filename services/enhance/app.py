"""Wiring: the enhance service with its real dependencies and the configured provider."""

from __future__ import annotations

import functools
import logging

import pyvips

from services.enhance import handlers
from services.enhance.gemini import enhance_provider
from services.enhance.topology import CONSUMER
from shared.events import catalogue as c
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import S3ObjectStore

log = logging.getLogger("shoebox.enhance")


def service(deps: handlers.Deps) -> Service:
    """The enhance consumer on ``deps`` (the stack's and the tests' wiring alike)."""
    return Service(
        CONSUMER,
        {c.PhotoEnhanceRequested: functools.partial(handlers.handle_photo_enhance_requested, deps=deps)},
        on_give_up=functools.partial(handlers.on_give_up, log_=deps.log),
    )


def build(clients: Clients) -> Service:
    # libvips reports every operation's plan at INFO ("VIPS: reducev: 9 point mask"): a service's log
    # would be mostly that
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    # each photo is loaded once: libvips' operation cache would only keep decoded images in memory (and
    # could hand back a stale decode for a reused temporary path), as media_process found
    pyvips.cache_set_max(0)
    settings = clients.settings
    provider = enhance_provider(settings)
    log.info("enhance provider: %s", provider.name)
    return service(
        handlers.Deps(
            store=S3ObjectStore(clients.s3, settings.names.media_bucket),
            log=DynamoEventLog.of(clients),
            provider=provider,
            tmp_root=settings.tmp_dir or None,
            threshold=settings.enhancement.score_threshold,
        )
    )
