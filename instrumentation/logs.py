"""Log records carry the current trace and span ids, so a log line leads to its trace in Tempo."""

from __future__ import annotations

import logging

from opentelemetry import trace

LOG_FORMAT = ("%(asctime)s %(levelname)s %(name)s [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s] "
              "%(message)s")


class TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.otelTraceID = format(ctx.trace_id, "032x")
            record.otelSpanID = format(ctx.span_id, "016x")
        else:
            record.otelTraceID = "0"
            record.otelSpanID = "0"
        return True


def configure_logging(level: str, monitoring_level: str) -> None:
    """Root handler with trace ids; ``monitoring_level`` applies to the monitoring loggers."""
    root = logging.getLogger()
    if not any(isinstance(f, TraceContextFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(TraceContextFilter())
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("app.monitoring", "instrumentation"):
        logging.getLogger(name).setLevel(monitoring_level)
