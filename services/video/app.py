"""Wiring: the video service with its real dependencies and the configured provider."""

from __future__ import annotations

import functools
import logging

from services.video import handlers
from services.video.gemini import video_provider
from services.video.topology import CONSUMER
from shared.events import catalogue as c
from shared.runtime.aws import Clients
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import S3ObjectStore

log = logging.getLogger("shoebox.video")


def service(deps: handlers.Deps) -> Service:
    """The video consumer on ``deps`` (the stack's and the tests' wiring alike)."""
    return Service(
        CONSUMER,
        {c.VideoEnhanceRequested: functools.partial(handlers.handle_video_enhance_requested, deps=deps)},
        on_give_up=functools.partial(handlers.on_give_up, log_=deps.log),
    )


def build(clients: Clients) -> Service:
    """The service as the stack's worker and the Lambda run it: Gemini when a key is configured, else the
    offline provider (``gemini.video_provider``)."""
    settings = clients.settings
    provider = video_provider(settings)
    log.info("video provider: %s", provider.name)
    return service(
        handlers.Deps(
            store=S3ObjectStore(clients.s3, settings.names.media_bucket),
            log=DynamoEventLog.of(clients),
            provider=provider,
            max_duration_s=settings.video.max_duration_s,
            preset=settings.video.preset,
            analysis_px=settings.video.analysis_px,
            tmp_root=settings.tmp_dir or None,
        )
    )
