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
from time import time_ns
from typing import Any

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
from opentelemetry.sdk._logs._internal import SynchronousMultiLogRecordProcessor
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import get_current_span
from opentelemetry.util.types import Attributes

from instrumentation import otlp_logs
from instrumentation.access import ACCESS_ATTRIBUTES, ACCESS_LOGGER
from instrumentation.export import ExportStatus, GuardedLogExporter
from instrumentation.otlp_transport import keep_alive
from instrumentation.pins import SDK_PIN, installed

__all__ = ["LogPipeline", "OTLPLoggingHandler", "build_log_pipeline", "logs_exporters"]

EXPORTERS = ("otlp", "console", "none")
# What instrumentation.logs.TraceContextFilter (and the contrib LoggingInstrumentor) put on a record for
# the stdout format: the exported record carries the ids as its trace context already.
_FORMAT_FIELDS = frozenset({"otelTraceID", "otelSpanID", "otelServiceName", "otelTraceSampled"})
# Of the access record only its extras are sent: where it is written is always the same line of access.py.
_NOT_ACCESS_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"} | _FORMAT_FIELDS
_NO_CONTEXT = Context()
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_METHOD, _PATH, _STATUS, _DURATION, _ROUTE, _CLIENT = ACCESS_ATTRIBUTES  # in the order log_access sets them
_ABSENT: Any = object()
_SEVERITY_TEXTS = {"WARNING": "WARN", "CRITICAL": "FATAL"}  # the SDK handler's: Python's names but these two
_log = logging.getLogger(__name__)

try:  # private: the direct path's only import of it
    from opentelemetry.sdk._logs._internal import std_to_otel
except ImportError:  # pragma: no cover - another SDK layout: the SDK's path
    std_to_otel = None  # type: ignore[assignment]


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


def _direct_supported() -> bool:
    """The handler's direct path: the pinned SDK, whose parts it reads, are all there."""
    return (installed("opentelemetry-sdk") == SDK_PIN and std_to_otel is not None
            and all(hasattr(Logger, name) for name in ("_is_enabled", "resource", "instrumentation_scope"))
            and hasattr(SynchronousMultiLogRecordProcessor(), "_log_record_processors"))  # type: ignore[no-untyped-call]


class _Checked(ReadWriteLogRecord):
    """A record whose attributes ``OTLPLoggingHandler`` checked and whose context it dropped (the ids are
    kept): the SDK's cleaning pass is skipped, and ``_BatchProcessor`` queues it without a copy."""

    def __post_init__(self) -> None:
        pass


class _BatchProcessor(BatchLogRecordProcessor):
    """The SDK's batch processor (queue, batches, ``OTEL_BLRP_*``); a checked record is queued as it is.

    The SDK copies each record to drop its reference to the request's context: the handler has dropped
    it already. ``encodes_ahead``: its exporter encodes with ``otlp_logs.encode_logs``, which takes records
    the handler encoded itself (``otlp_logs.EncodedRecord``).
    """

    def __init__(self, exporter: LogRecordExporter, encodes_ahead: bool = False) -> None:
        super().__init__(exporter)
        self.encodes_ahead = encodes_ahead

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

    When every processor of the provider is a ``_BatchProcessor`` whose exporter encodes with
    ``otlp_logs`` (OTLP/HTTP alone, as the service runs), such a record is encoded here, from the logging
    record and the current span, and its bytes queued: no SDK record objects (~6 µs of the handler's ~8),
    and no batch of encoding on the exporter thread, which held the GIL (the event loop) ~2.5 ms per 512
    records. That path reads private parts of the SDK's ``Logger`` and processors: with another SDK
    version than ``SDK_PIN``, or anything not as expected, every record takes the SDK's path
    (``tests/unit/test_log_direct.py`` compares the bytes of both).
    """

    def __init__(self, logger_provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        with warnings.catch_warnings():  # deprecated for the contrib package's copy, which is not installed
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(level=level, logger_provider=logger_provider)
        self._provider = logger_provider
        self._loggers: dict[str, APILogger] = {}
        self._limits = LogRecordLimits()
        self._direct = _direct_supported()
        self._queues_of: tuple[object, tuple[Any, ...] | None] = (None, None)  # (processors seen, their queues)
        self._severities: dict[int, int] = {}
        # The access record's encoded attributes but its duration, by its other values (see _access_attributes)
        self._access_parts: dict[tuple[Any, ...], tuple[bytes, bytes] | None] = {}
        self._duration_prefix = otlp_logs.plain_attributes({_DURATION: 0.0}, 1, None)[:-8]  # type: ignore[index]

    @staticmethod
    def _get_attributes(record: logging.LogRecord) -> Attributes:
        if record.name == ACCESS_LOGGER:  # its extras only, by name: no code location, no exception
            fields = vars(record)
            return {k: fields[k] for k in ACCESS_ATTRIBUTES if k in fields}
        attributes = LoggingHandler._get_attributes(record)
        return {k: v for k, v in attributes.items() if k not in _FORMAT_FIELDS} if attributes else attributes

    def handle(self, record: logging.LogRecord) -> bool:
        """``Handler.handle`` without the handler's lock (``emit`` is thread-safe: the SDK's queue is) and
        with the ``opentelemetry`` loggers left out first."""
        name = record.name
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            return False
        if self.filters:
            passed = self.filter(record)
            if not passed:
                return False
            if isinstance(passed, logging.LogRecord):
                record = passed
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        logger = self._loggers.get(record.name)
        if logger is None:
            logger = self._loggers[record.name] = self._provider.get_logger(record.name)
        if type(logger) is not Logger:  # the no-op (OTEL_SDK_DISABLED) or another's: the public path
            if not isinstance(logger, NoOpLogger):
                logger.emit(self._translate(record))
            return
        if self._direct:
            try:
                if self._emit_encoded(logger, record):
                    return
            except Exception:  # not the SDK this was written against after all: its own path from now on
                self._direct = False
                _log.debug("encoding log records ahead failed; the SDK's path from now on", exc_info=True)
        translated = self._translate(record)
        if self._plain(translated.attributes):
            translated.context = _NO_CONTEXT  # the ids are on the record: the request's context is not kept
            checked = _Checked(translated, logger.resource, logger.instrumentation_scope, self._limits)
            logger.emit(checked)  # type: ignore[arg-type]  # the SDK's Logger takes its own records as they are
        else:
            logger.emit(translated)

    def _queues(self, logger: Logger) -> tuple[Any, ...] | None:
        """The batch queues of the provider's processors when all of them encode ahead, else None."""
        multi = logger._multi_log_record_processor
        processors = multi._log_record_processors
        seen, queues = self._queues_of
        if processors is not seen:  # a processor added since: looked at again
            queues = None
            if (type(multi) is SynchronousMultiLogRecordProcessor and processors
                    and all(type(p) is _BatchProcessor and p.encodes_ahead for p in processors)):
                queues = tuple(p._batch_processor for p in processors)  # type: ignore[attr-defined]
            self._queues_of = (processors, queues)
        return queues

    def _emit_encoded(self, logger: Logger, record: logging.LogRecord) -> bool:
        """What the SDK's path does with a plain record, its ``LogRecord`` encoded here; False: not plain."""
        queues = self._queues(logger)
        if queues is None or self.formatter is not None or not isinstance(record.msg, str):
            return False
        encoded_attributes = self._access_attributes(record) if record.name == ACCESS_LOGGER else None
        if encoded_attributes is None:
            limits = self._limits
            encoded_attributes = otlp_logs.plain_attributes(self._get_attributes(record),
                                                            limits.max_log_record_attributes or 0,
                                                            limits.max_log_record_attribute_length)
            if encoded_attributes is None:
                return False
        if not logger._is_enabled():  # as Logger.emit
            return True
        timestamp = int(record.created * 1e9)  # as the SDK handler's _translate, in its order
        observed = time_ns()
        severity = self._severities.get(record.levelno)
        if severity is None:
            severity = self._severities[record.levelno] = std_to_otel(record.levelno).value
        span_context = get_current_span().get_span_context()
        encoded = otlp_logs.encode_record(timestamp, observed, severity,
                                          _SEVERITY_TEXTS.get(record.levelname, record.levelname), record.getMessage(),
                                          encoded_attributes, 0, int(span_context.trace_flags), span_context.trace_id,
                                          span_context.span_id)
        item = otlp_logs.EncodedRecord(logger.resource, logger.instrumentation_scope, encoded)
        logger._logger_metrics.emit_log()
        for queue in queues:
            queue.emit(item)
        return True

    def _access_attributes(self, record: logging.LogRecord) -> bytes | None:
        """What ``plain_attributes`` writes of an access record's attributes, from a cache: of its six values only
        the duration changes from one request to the next (method, path, status, route and client repeat).

        The encoding of the values before the duration and of those after it is kept by those values (the
        status's exact type too: ``True == 1``); the duration is the kept prefix and its eight bytes. None:
        not what ``log_access`` writes (a duration that is not a float): ``plain_attributes`` decides.
        """
        fields = vars(record)
        duration = fields.get(_DURATION)
        if type(duration) is not float:
            return None
        status = fields.get(_STATUS, _ABSENT)
        key = (fields.get(_METHOD, _ABSENT), fields.get(_PATH, _ABSENT), status, type(status),
               fields.get(_ROUTE, _ABSENT), fields.get(_CLIENT, _ABSENT))
        parts = self._access_parts.get(key, _ABSENT)
        if parts is _ABSENT:
            parts = self._encode_access_parts(key)
        if parts is None:
            return None
        head, tail = parts
        encoded: bytes = head + self._duration_prefix + otlp_logs.pack_double(duration) + tail
        return encoded

    def _encode_access_parts(self, key: tuple[Any, ...]) -> tuple[bytes, bytes] | None:
        method, path, status, _, route, client = key
        before = {k: v for k, v in ((_METHOD, method), (_PATH, path), (_STATUS, status)) if v is not _ABSENT}
        after = {k: v for k, v in ((_ROUTE, route), (_CLIENT, client)) if v is not _ABSENT}
        limits = self._limits
        most, longest = limits.max_log_record_attributes or 0, limits.max_log_record_attribute_length
        head = otlp_logs.plain_attributes(before, most, longest) if before else b""
        tail = otlp_logs.plain_attributes(after, most, longest) if after else b""
        parts = None if head is None or tail is None or len(before) + len(after) + 1 > most else (head, tail)
        if len(self._access_parts) >= otlp_logs.MAX_CACHED:
            self._access_parts.clear()
        self._access_parts[key] = parts
        return parts

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


def _otlp_log_exporter(endpoint: str | None, protocol: str) -> tuple[LogRecordExporter, str, bool]:
    """The exporter, where it sends, and whether it takes records encoded ahead (OTLP/HTTP, ``otlp_logs``)."""
    base = (endpoint or "").rstrip("/")
    signal = os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "").strip()  # the SDK reads it when we pass None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLog

        target = None if signal else base or None
        return GrpcLog(endpoint=target, insecure=True), signal or base or "default gRPC endpoint", False
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLog

    otlp_logs.install()  # the same bytes, several times faster: an access record per request adds up
    target = None if signal or not base else f"{base}/v1/logs"
    exporter = HttpLog(endpoint=target)
    keep_alive(exporter)  # a plain-HTTP Collector: posts over a kept connection, not requests
    return exporter, signal or target or "http://localhost:4318/v1/logs", otlp_logs.installed()


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
        exporter, shown, encodes_ahead = _otlp_log_exporter(otlp_endpoint, otlp_protocol)
        status = ExportStatus("logs", shown)
        # The SDK's batches (OTEL_BLRP_*: 512 records, 1 s), not the spans' 64: one HTTP post costs about
        # what 200 records take to encode (otlp_logs). Over HTTP the handler encodes them itself
        # (encodes_ahead): the exporter thread joins and posts the bytes.
        provider.add_log_record_processor(_BatchProcessor(GuardedLogExporter(exporter, status),
                                                          encodes_ahead))
    if "console" in names:
        provider.add_log_record_processor(_BatchProcessor(ConsoleLogRecordExporter()))
    for extra in extra_exporters:  # tests: InMemoryLogRecordExporter
        provider.add_log_record_processor(SimpleLogRecordProcessor(extra))
    return LogPipeline(provider, OTLPLoggingHandler(provider), status)
