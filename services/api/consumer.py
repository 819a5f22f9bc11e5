"""Wiring: the api's consumer (saga commands, uploads, enhancement chunks) with its real dependencies
(``build``), or with the ones it is given (``service``: tests run it on the in-memory log and store). The
HTTP app is ``app.py``."""

from __future__ import annotations

import functools

from services.api import handlers
from services.api.topology import CONSUMER
from shared.events import catalogue as c
from shared.runtime.aws import Clients
from shared.runtime.inbound import ObjectCreated, SagaCommand
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import S3ObjectStore


def service(deps: handlers.Deps) -> Service:
    """The consumer on ``deps``: its sagas' commands to ``handle_saga_command``, S3's announcements of
        uploads to ``handle_object_created``, enhancement chunks to ``handle_enhancement_requested``, feedback
    requests to ``handle_enhancement_feedback_requested``."""
    return Service(
        CONSUMER,
        {
            SagaCommand: functools.partial(handlers.handle_saga_command, deps=deps),
            ObjectCreated: functools.partial(handlers.handle_object_created, deps=deps),
            c.EnhancementRequested: functools.partial(handlers.handle_enhancement_requested, deps=deps),
            c.EnhancementFeedbackRequested: functools.partial(
                handlers.handle_enhancement_feedback_requested, deps=deps
            ),
        },
    )


def build(clients: Clients) -> Service:
    names = clients.settings.names
    return service(
        handlers.Deps(
            log=DynamoEventLog.of(clients),
            store=S3ObjectStore(clients.s3, names.media_bucket),
            video_deployed=clients.settings.enhancement.video_deployed,
        )
    )
