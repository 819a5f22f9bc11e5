"""The topology: what each service consumes, and everything that follows from it.

Each service declares one ``Consumer`` (``services/<name>/topology.py``). From it come its EventBridge
rules, its SQS queue and dead-letter queue, the Lambda event source mapping (Terraform) and the embedded
stack's provisioning (``deploy/local``). ``deploy/topology.py`` gathers the declarations; nothing else keeps
a list of queues or rules.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.events.envelope import Event
from shared.runtime.config import Names
from shared.runtime.inbound import UPLOADS, ObjectCreated, SagaCommand

#: An SQS message is moved to the DLQ after this many receives.
MAX_RECEIVE_COUNT = 5
#: how often each service's DLQ sweeper runs on AWS (``lambda_sqs.make_dead_letter_sweeper``)
DEAD_LETTER_SWEEP_MINUTES = 15
#: The queue's visibility timeout is at least this many times the handler timeout (AWS's guidance for
#: Lambda event sources, and room for the worker's own retries of AWS calls).
VISIBILITY_FACTOR = 6

Handled = type[Event[Any]] | type[ObjectCreated] | type[SagaCommand]


#: S3 sends its own events to the account's default bus, never to a custom one.
DEFAULT_BUS = "default"


class Rule(msgspec.Struct, frozen=True):
    name: str
    pattern: dict[str, Any]
    bus: str  # the bus the rule lives on


class Consumer(msgspec.Struct, frozen=True, kw_only=True):
    """One service's subscription to the bus."""

    service: str
    handles: tuple[Handled, ...]
    handler_timeout_s: int = 60
    #: messages handled at once by one worker process (long-poll adapter) / batch size (Lambda)
    concurrency: int = 4
    batch_size: int = 10
    #: first redelivery delay after a failure; doubles per receive (SQS visibility), capped at 15 min
    retry_base_s: int = 2
    #: Lambda sizing (Terraform)
    memory_mb: int = 1024
    needs_ffmpeg: bool = False

    @property
    def visibility_timeout_s(self) -> int:
        return VISIBILITY_FACTOR * self.handler_timeout_s

    def event_types(self) -> list[type[Event[Any]]]:
        return [h for h in self.handles if isinstance(h, type) and issubclass(h, Event)]

    def rules(self, names: Names) -> list[Rule]:
        rules: list[Rule] = []
        families = sorted({t.family() for t in self.event_types()})
        if families:
            rules.append(
                Rule(
                    names.rule(self.service, "events"),
                    {
                        "source": [{"prefix": "shoebox/"}],
                        "detail-type": families,
                    },
                    names.bus,
                )
            )
        if ObjectCreated in self.handles:
            rules.append(Rule(names.rule(self.service, "uploads"), ObjectCreated.pattern(names), DEFAULT_BUS))
        return rules

    def handler_names(self) -> dict[Handled, str]:
        return {h: h.handler_name() for h in self.handles}


class StateMachine(msgspec.Struct, frozen=True, kw_only=True):
    """A saga: its ASL file is used unchanged by Terraform and the embedded stack."""

    name: str
    definition: str  # path of the ASL JSON, relative to the repository root


class Topology(msgspec.Struct, frozen=True, kw_only=True):
    consumers: tuple[Consumer, ...]
    state_machines: tuple[StateMachine, ...] = ()

    def consumer(self, service: str) -> Consumer:
        for c in self.consumers:
            if c.service == service:
                return c
        raise KeyError(service)

    def describe(self, names: Names) -> dict[str, Any]:
        """Everything the deploy targets provision, as plain data (Terraform reads this as JSON)."""
        return {
            "prefix": names.prefix,
            "events_table": names.events_table,
            "views_table": names.views_table,
            "media_bucket": names.media_bucket,
            "bus": names.bus,
            "uploads_prefix": f"{UPLOADS}/",
            "consumers": [
                {
                    "service": c.service,
                    "queue": names.queue(c.service),
                    "dead_letter_queue": names.dead_letter_queue(c.service),
                    "visibility_timeout_s": c.visibility_timeout_s,
                    "max_receive_count": MAX_RECEIVE_COUNT,
                    "dead_letter_sweep_minutes": DEAD_LETTER_SWEEP_MINUTES,
                    "handler_timeout_s": c.handler_timeout_s,
                    "batch_size": c.batch_size,
                    "memory_mb": c.memory_mb,
                    "needs_ffmpeg": c.needs_ffmpeg,
                    "rules": [{"name": r.name, "bus": r.bus, "pattern": r.pattern} for r in c.rules(names)],
                }
                for c in self.consumers
            ],
            "state_machines": [
                {"name": names.state_machine(s.name), "definition": s.definition} for s in self.state_machines
            ],
        }
