"""OpenTelemetry tracer and meter, set up once per process, and structured JSON logs.

Every envelope carries ``traceparent`` (W3C): a handler's span continues the trace of the event it
handles and the events it emits carry that span onwards, so one trace runs from the API through every
service that handles the consequences. Exporter by config: ``none`` (tests), ``console`` or ``otlp``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from shared.runtime.config import Settings

_configured = False
#: ids that every log line written while handling one message carries
log_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "shoebox_log_context", default=None
)


def setup(
    service: str,
    *,
    exporter: str = "none",
    log_level: str = "INFO",
    log_format: str = "json",
    span_exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    log_file: str | None = None,
) -> None:
    """Configure tracing, metrics and logging for this process. Later calls are ignored."""
    global _configured
    if _configured:
        return
    _configured = True
    resource = Resource.create({"service.name": f"shoebox-{service}"})
    tracer_provider = TracerProvider(resource=resource)
    if span_exporter is None and exporter == "console":
        span_exporter = ConsoleSpanExporter(out=sys.stderr)
    elif span_exporter is None and exporter == "otlp":  # pragma: no cover - needs a collector
        # the `otlp` extra: only an image that exports to a collector installs it
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    if span_exporter is not None:
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    readers: list[MetricReader] = []
    if metric_reader is not None:
        readers.append(metric_reader)
    elif exporter == "console":
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr)))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    setup_logging(level=log_level, fmt=log_format, file=log_file)


def setup_from(settings: Settings, service: str, *, log_file: str | None = None) -> None:
    """``setup`` with the exporter and logging the process's settings name (``settings.telemetry`` and
    ``settings.log``: ``SHOEBOX_TELEMETRY_EXPORTER``, ``SHOEBOX_LOG_LEVEL``, ``SHOEBOX_LOG_FORMAT``)."""
    setup(
        service,
        exporter=settings.telemetry.exporter,
        log_level=settings.log.level,
        log_format=settings.log.format,
        log_file=log_file,
    )


def tracer() -> trace.Tracer:
    return trace.get_tracer("shoebox")


def meter() -> metrics.Meter:
    return metrics.get_meter("shoebox")


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def continue_trace(traceparent: str | None) -> Iterator[None]:
    """Make the trace in ``traceparent`` the current context (for the span that handles an event)."""
    token = otel_context.attach(extract({"traceparent": traceparent} if traceparent else {}))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def log_fields(**fields: str | None) -> Iterator[None]:
    token = log_context.set({**(log_context.get() or {}), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        log_context.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            out["trace_id"] = f"{span.trace_id:032x}"
            out["span_id"] = f"{span.span_id:016x}"
        out.update(log_context.get() or {})
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO", fmt: str = "json", file: str | None = None) -> None:
    """Log to stderr in ``fmt``, and also to ``file`` (one JSON object a line, appended) when given: the
    embedded stack's processes keep their logs under the state folder that way."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [handler]
    if file is not None:
        to_file = logging.FileHandler(file, encoding="utf-8")
        to_file.setFormatter(JsonFormatter())
        handlers.append(to_file)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(level.upper())
    for noisy in ("botocore", "aiobotocore", "urllib3", "werkzeug", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
