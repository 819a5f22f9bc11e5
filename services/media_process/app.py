"""Wiring: the media_process service with its real dependencies (``build``), or with the ones it is given
(``service``: tests run it on the in-memory log and store)."""

from __future__ import annotations

import functools

from services.media_process import handlers
from services.media_process.model import Limits
from services.media_process.topology import CONSUMER
from shared.runtime.aws import Clients
from shared.runtime.inbound import ObjectCreated
from shared.runtime.log import DynamoEventLog
from shared.runtime.service import Service
from shared.runtime.storage import S3ObjectStore


def service(deps: handlers.Deps) -> Service:
    """The service on ``deps``: S3's Object Created events to ``handle_object_created``."""
    return Service(
        CONSUMER,
        {ObjectCreated: functools.partial(handlers.handle_object_created, deps=deps)},
        on_give_up=functools.partial(handlers.give_up_on_file, deps=deps),
    )


def build(clients: Clients) -> Service:
    names = clients.settings.names
    return service(
        handlers.Deps(
            store=S3ObjectStore(clients.s3, names.media_bucket),
            log=DynamoEventLog(
                clients.dynamodb, events_table=names.events_table, views_table=names.views_table
            ),
            limits=Limits.of(clients.settings.media),
            tmp_root=clients.settings.tmp_dir,
        )
    )
