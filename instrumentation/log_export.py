"""Logs over OTLP: a LoggerProvider on the service's Resource, fed by the root logger.

``OTEL_LOGS_EXPORTER`` chooses the exporters, as the SDK's auto-configuration reads it: ``otlp``,
``console``, ``none`` or a comma-separated list; unset, ``otlp`` when OTLP export is on (an endpoint, or
``ENABLE_EXTERNAL_MONITORING``), else ``none``. An unknown name is warned about and ignored. The OTLP
exporter goes to ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` when set, else to the base endpoint's ``/v1/logs``
(HTTP) or the base endpoint itself (gRPC), on the traces' protocol. ``OTEL_SDK_DISABLED=true``: none.

Records reach it through ``OTLPLoggingHandler``, the SDK's ``LoggingHandler`` on the root logger (what
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED`` installs): whatever passes the loggers' levels
(``LOG_LEVEL``, ``MONITORING_LOG_LEVEL``) is printed and exported alike, with the current span's trace and
span ids, its severity and the Resource. Never the ``opentelemetry`` loggers: an exporter failing to
export would log into the pipeline that is failing. A batch processor with a bounded queue (2048 records,
the oldest dropped) sits between the request and the network: an unreachable Collector costs a request
nothing, and the export status reports it once.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry._logs import Logger as APILogger
from opentelemetry._logs import NoOpLogger
from opentelemetry.context import Context
from opentelemetry.sdk._logs import (
    Logger,
    LoggerProvider,
    LoggingHandler,
    LogRecordLimits,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import Attributes

from instrumentation import otlp_logs
from instrumentation.access import ACCESS_LOGGER
from instrumentation.export import ExportStatus, GuardedLogExporter

__all__ = ["LogPipeline", "OTLPLoggingHandler", "build_log_pipeline", "logs_exporters"]

EXPORTERS = ("otlp", "console", "none")
# What instrumentation.logs.TraceContextFilter (and the contrib LoggingInstrumentor) put on a record for
# the stdout format: the exported record carries the ids as its trace context already.
_FORMAT_FIELDS = frozenset({"otelTraceID", "otelSpanID", "otelServiceName", "otelTraceSampled"})
# Of the access record only its extras are sent: where it is written is always the same line of access.py.
_NOT_ACCESS_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"} | _FORMAT_FIELDS
_NO_CONTEXT = Context()
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_log = logging.getLogger(__name__)


def logs_exporters(otlp_on: bool) -> tuple[str, ...]:
    """``OTEL_LOGS_EXPORTER`` as a tuple of known names, "none" dropped; bad values warn and fall back."""
    default = ("otlp",) if otlp_on else ()
    value = os.environ.get("OTEL_LOGS_EXPORTER", "").strip().lower()
    if not value:
        return default
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        _log.warning("OTEL_LOGS_EXPORTER: unknown exporter(s) %s ignored (known: %s)", unknown, ", ".join(EXPORTERS))
        names = [n for n in names if n in EXPORTERS]
        if not names:
            return default
    return tuple(dict.fromkeys(n for n in names if n != "none"))


def _not_opentelemetry(record: logging.LogRecord) -> bool:
    return not (record.name == "opentelemetry" or record.name.startswith("opentelemetry."))


class _Checked(ReadWriteLogRecord):
    """A record whose attributes ``OTLPLoggingHandler`` checked and whose context it dropped (the ids are
    kept): the SDK's cleaning pass is skipped, and ``_BatchProcessor`` queues it without a copy."""

    def __post_init__(self) -> None:
        pass


class _BatchProcessor(BatchLogRecordProcessor):
    """The SDK's batch processor (queue, batches, ``OTEL_BLRP_*``); a checked record is queued as it is.

    The SDK copies each record to drop its reference to the request's context: the handler has dropped
    it already.
    """

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if type(log_record) is _Checked and log_record.resource is not None:
            self._batch_processor.emit(ReadableLogRecord(log_record.log_record, log_record.resource,
                                                         log_record.instrumentation_scope, log_record.limits))
        else:
            super().on_emit(log_record)


class OTLPLoggingHandler(LoggingHandler):
    """The SDK's handler without the ``opentelemetry`` loggers and the stdout format's id fields, cheaper.

    The SDK cleans every attribute of every record into a ``BoundedAttributes`` (about 12 µs for the
    access record, more than the rest of the handler): a record whose attributes are all plain scalars
    within the limits (``OTEL_LOGRECORD_ATTRIBUTE_*``), as the access record's always are, skips it; any
    other record takes the SDK's path. Loggers are kept per name (the provider takes a lock per lookup).
    """

    def __init__(self, logger_provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        with warnings.catch_warnings():  # deprecated for the contrib package's copy, which is not installed
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(level=level, logger_provider=logger_provider)
        self.addFilter(_not_opentelemetry)
        self._provider = logger_provider
        self._loggers: dict[str, APILogger] = {}
        self._limits = LogRecordLimits()

    @staticmethod
    def _get_attributes(record: logging.LogRecord) -> Attributes:
        if record.name == ACCESS_LOGGER:  # its extras only, in one pass: no code location, no exception
            return {k: v for k, v in vars(record).items() if k not in _NOT_ACCESS_ATTRIBUTES}
        attributes = LoggingHandler._get_attributes(record)
        return {k: v for k, v in attributes.items() if k not in _FORMAT_FIELDS} if attributes else attributes

    def emit(self, record: logging.LogRecord) -> None:
        logger = self._loggers.get(record.name)
        if logger is None:
            logger = self._loggers[record.name] = self._provider.get_logger(record.name)
        if isinstance(logger, NoOpLogger):  # OTEL_SDK_DISABLED
            return
        translated = self._translate(record)
        if isinstance(logger, Logger) and self._plain(translated.attributes):
            translated.context = _NO_CONTEXT  # the ids are on the record: the request's context is not kept
            checked = _Checked(translated, logger.resource, logger.instrumentation_scope, self._limits)
            logger.emit(checked)  # type: ignore[arg-type]  # the SDK's Logger takes its own records as they are
        else:
            logger.emit(translated)

    def _plain(self, attributes: Attributes) -> bool:
        limits = self._limits
        if not attributes or len(attributes) > (limits.max_log_record_attributes or 0):
            return False
        longest = limits.max_log_record_attribute_length
        for value in attributes.values():
            if isinstance(value, str):
                if longest is not None and len(value) > longest:
                    return False
            elif isinstance(value, int):  # bool too
                if not _INT64_MIN <= value <= _INT64_MAX:
                    return False
            elif not isinstance(value, float):
                return False
        return True


@dataclass
class LogPipeline:
    provider: LoggerProvider
    handler: OTLPLoggingHandler
    status: ExportStatus | None  # the OTLP exporter's, for the health endpoints

    def attach(self) -> None:
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)

    def shutdown(self) -> None:
        """Detached first (nothing more is queued), then flushed and stopped."""
        logging.getLogger().removeHandler(self.handler)
        self.provider.shutdown()


def _otlp_log_exporter(endpoint: str | None, protocol: str) -> tuple[LogRecordExporter, str]:
    base = (endpoint or "").rstrip("/")
    signal = os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "").strip()  # the SDK reads it when we pass None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLog

        target = None if signal else base or None
        return GrpcLog(endpoint=target, insecure=True), signal or base or "default gRPC endpoint"
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLog

    otlp_logs.install()  # the same bytes, several times faster: an access record per request adds up
    target = None if signal or not base else f"{base}/v1/logs"
    return HttpLog(endpoint=target), signal or target or "http://localhost:4318/v1/logs"


def build_log_pipeline(resource: Resource, otlp_endpoint: str | None, otlp_protocol: str,
                       extra_exporters: Sequence[LogRecordExporter] = ()) -> LogPipeline | None:
    """The provider and its root handler (not yet attached), or None when no exporter is chosen."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = logs_exporters(otlp_endpoint is not None)
    if not names and not extra_exporters:
        return None
    provider = LoggerProvider(resource=resource)
    status = None
    if "otlp" in names:
        exporter, shown = _otlp_log_exporter(otlp_endpoint, otlp_protocol)
        status = ExportStatus("logs", shown)
        # The SDK's batches (OTEL_BLRP_*: 512 records, 1 s), not the spans' 64: encoded at ~7 µs a record
        # (otlp_logs) a batch holds the GIL ~4 ms, and one HTTP post costs about what 100 records take to encode.
        provider.add_log_record_processor(_BatchProcessor(GuardedLogExporter(exporter, status)))
    if "console" in names:
        provider.add_log_record_processor(_BatchProcessor(ConsoleLogRecordExporter()))
    for extra in extra_exporters:  # tests: InMemoryLogRecordExporter
        provider.add_log_record_processor(SimpleLogRecordProcessor(extra))
    return LogPipeline(provider, OTLPLoggingHandler(provider), status)
