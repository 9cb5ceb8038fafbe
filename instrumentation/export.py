"""Exporters guarded so that a Collector that is down is reported once, not logged as a stream.

The OTLP exporters log every failed export at ERROR; with no Collector that is one line per batch.
These wrappers keep the last outcome (for the health endpoints) and log only on a change of state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from instrumentation.redact import redact_text, redact_url

_log = logging.getLogger("instrumentation.export")
_Result = TypeVar("_Result")

# The OTLP exporters' own per-batch error lines: our wrappers report the state instead.
for _name in ("opentelemetry.exporter.otlp.proto.http", "opentelemetry.exporter.otlp.proto.grpc"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


class _OncePerMessage(logging.Filter):
    """The batch processors' "Queue full, dropping ..." once per signal and process, not every 20 s.

    With the Collector down the queues stay full and the SDK would warn again every 20 s (its own
    ``DuplicateFilter``); the exporter's status already reports the outage once.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix
        self._seen: set[tuple[object, ...]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(self._prefix)):
            return True
        key = (record.msg, *(record.args if isinstance(record.args, tuple) else ()))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


logging.getLogger("opentelemetry.sdk._shared_internal").addFilter(_OncePerMessage("Queue full"))


@dataclass
class ExportStatus:
    """The last outcome of one signal's export, as the health endpoint reports it."""

    signal: str
    endpoint: str
    healthy: bool | None = None  # None until the first export
    last_success: float | None = None
    last_failure: float | None = None
    last_error: str | None = None
    failures: int = 0
    exported: int = 0

    def __post_init__(self) -> None:
        self.endpoint = redact_url(self.endpoint) if "://" in self.endpoint else self.endpoint  # answered and logged
        self._lock = threading.Lock()

    def outcome(self, ok: bool, items: int, error: str | None = None) -> None:
        with self._lock:
            was = self.healthy
            self.healthy = ok
            if ok:
                self.last_success = time.time()
                self.exported += items
            else:
                self.last_failure = time.time()
                error = self.last_error = redact_text(error) if error else error
                self.failures += 1
        if not ok and was is not False:
            _log.warning("OTLP %s export to %s failed (%s); requests are unaffected, "
                         "telemetry is retried and this is reported once until it recovers",
                         self.signal, self.endpoint, error or "exporter returned failure")
        elif ok and was is False:
            _log.info("OTLP %s export to %s recovered", self.signal, self.endpoint)

    def as_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "endpoint": self.endpoint, "healthy": self.healthy,
                "last_success": self.last_success, "last_failure": self.last_failure,
                "last_error": self.last_error, "failures": self.failures, "exported": self.exported}


def _guarded(status: ExportStatus, items: int, export: Callable[[], _Result], success: _Result,
             failure: _Result) -> _Result:
    """``export()``, its outcome reported to ``status``; an exception is a failure, never raised."""
    try:
        result = export()
    except Exception as exc:
        status.outcome(False, 0, repr(exc))
        return failure
    status.outcome(result is success, items)
    return result


class GuardedSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, status: ExportStatus) -> None:
        self._inner = inner
        self.status = status

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return _guarded(self.status, len(spans), lambda: self._inner.export(spans), SpanExportResult.SUCCESS,
                        SpanExportResult.FAILURE)

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class GuardedMetricExporter(MetricExporter):
    def __init__(self, inner: MetricExporter, status: ExportStatus) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self._inner = inner
        self.status = status

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
               **kwargs: Any) -> MetricExportResult:
        return _guarded(self.status, len(metrics_data.resource_metrics),
                        lambda: self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs),
                        MetricExportResult.SUCCESS, MetricExportResult.FAILURE)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class GuardedLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, status: ExportStatus) -> None:
        self._inner = inner
        self.status = status

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return _guarded(self.status, len(batch), lambda: self._inner.export(batch), LogRecordExportResult.SUCCESS,
                        LogRecordExportResult.FAILURE)

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)
