"""Log records carry the current trace and span ids, so a log line leads to its trace in Tempo, and
no credential: every line is masked by ``instrumentation.redact``."""

from __future__ import annotations

import logging

from opentelemetry import trace

from instrumentation.redact import redact_text

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


class RedactFilter(logging.Filter):
    """Masks credentials in the message: httpx logs each request's URL as given, user info included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# Loggers that write URLs themselves: masked on the logger, so every handler (not only ours) gets the
# masked line.
_URL_LOGGERS = ("httpx",)


def configure_logging(level: str, monitoring_level: str) -> None:
    """Root handler with trace ids; ``monitoring_level`` applies to the monitoring loggers."""
    root = logging.getLogger()
    if not any(isinstance(f, TraceContextFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.addFilter(TraceContextFilter())
        handler.addFilter(RedactFilter())
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())
    for name in ("app.monitoring", "instrumentation"):
        logging.getLogger(name).setLevel(monitoring_level)
