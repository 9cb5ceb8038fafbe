"""The handler's direct path (records encoded in the handler, their bytes queued) writes what the SDK's path
writes, and falls back to the SDK's path when the SDK is not the pinned one or a processor cannot take bytes."""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official_encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import log_export
from instrumentation.access import ACCESS_LOGGER
from instrumentation.log_export import SDK_PIN, OTLPLoggingHandler, _BatchProcessor
from instrumentation.otlp_logs import EncodedRecord, encode_logs

RESOURCE = Resource.create({"service.name": "test-direct"})


class Capture(LogRecordExporter):
    def __init__(self) -> None:
        self.items: list[Any] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.items.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class Pipeline:
    def __init__(self, encodes_ahead: bool) -> None:
        self.provider = LoggerProvider(resource=RESOURCE)
        self.capture = Capture()
        self.provider.add_log_record_processor(_BatchProcessor(self.capture, encodes_ahead=encodes_ahead))
        self.handler = OTLPLoggingHandler(self.provider)

    def items(self) -> list[Any]:
        self.provider.force_flush()
        return self.capture.items


@pytest.fixture
def loggers() -> Iterator[list[logging.Logger]]:
    """The access logger and one other, writing only to the handlers a test attaches."""
    made = [logging.getLogger(ACCESS_LOGGER), logging.getLogger("tests.direct")]
    saved = [(lg.propagate, lg.level, list(lg.handlers)) for lg in made]
    for lg in made:
        lg.propagate, lg.handlers = False, []
        lg.setLevel(logging.DEBUG)
    yield made
    for lg, (propagate, level, handlers) in zip(made, saved, strict=True):
        lg.propagate, lg.handlers = propagate, handlers
        lg.setLevel(level)


def _write(loggers: list[logging.Logger], *handlers: logging.Handler) -> None:
    """The same records, in a sampled span and outside any, to every handler."""
    for lg in loggers:
        for handler in handlers:
            lg.addHandler(handler)
    access, other = loggers
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("GET /items/{id}"):
        access.info('%s - "%s %s HTTP/%s" %d %.1fms', "127.0.0.1:5000", "GET", "/items/1", "1.1", 200, 1.2,
                    extra={"http.request.method": "GET", "url.path": "/items/1", "http.response.status_code": 200,
                           "http.server.request.duration": 0.0012, "http.route": "/items/{id}",
                           "client.address": "127.0.0.1"})
        other.warning("looking up item %s", 1)
        other.info("a map", extra={"audit": {"status": 401}})  # not plain: the SDK's path in both
        other.info("an enum", extra={"status": HTTPStatus.OK})  # a subclass of int: the SDK's path too
    other.critical("outside any span")
    other.log(25, "a level of its own")
    other.debug("é and %d%%", 5)


def _parsed(payload: bytes | Any) -> Any:
    message = ExportLogsServiceRequest.FromString(payload) if isinstance(payload, bytes) else payload
    for resource_logs in message.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                record.observed_time_unix_nano = 0  # when each handler saw it
    return message


def test_the_pinned_sdk_takes_the_direct_path() -> None:
    pins = tomllib.loads(Path(__file__).resolve().parents[2].joinpath("pyproject.toml").read_text())
    assert f"opentelemetry-sdk=={SDK_PIN}" in pins["project"]["dependencies"]
    assert log_export._direct_supported()


def test_direct_records_are_the_sdks_records(loggers: list[logging.Logger]) -> None:
    direct, sdk = Pipeline(encodes_ahead=True), Pipeline(encodes_ahead=False)
    _write(loggers, direct.handler, sdk.handler)
    direct_items, sdk_items = direct.items(), sdk.items()
    assert [type(i) for i in direct_items].count(EncodedRecord) == 5  # all but the map and the enum
    assert all(isinstance(i, ReadableLogRecord) for i in sdk_items)
    expected = _parsed(official_encode_logs(sdk_items))
    assert _parsed(encode_logs(direct_items)) == expected
    assert len(expected.resource_logs[0].scope_logs) == 2  # the two loggers' scopes


def test_trace_context_and_severity_are_on_the_direct_record(loggers: list[logging.Logger]) -> None:
    direct = Pipeline(encodes_ahead=True)
    _write(loggers, direct.handler)
    message = ExportLogsServiceRequest.FromString(encode_logs(direct.items()))
    records = {r.body.string_value: r for rl in message.resource_logs for sl in rl.scope_logs for r in sl.log_records}
    access = next(r for body, r in records.items() if body.startswith("127.0.0.1:5000"))
    assert len(access.trace_id) == 16 and len(access.span_id) == 8 and access.flags & 1  # sampled
    assert access.severity_text == "INFO" and access.severity_number == 9
    assert records["outside any span"].severity_text == "FATAL" and not records["outside any span"].trace_id
    assert records["looking up item 1"].severity_text == "WARN"
    assert message.resource_logs[0].resource.attributes[0].value.string_value


def test_another_sdk_version_takes_the_sdks_path(monkeypatch: pytest.MonkeyPatch,
                                                 loggers: list[logging.Logger]) -> None:
    monkeypatch.setattr(log_export, "SDK_PIN", "0.0.0")
    assert not log_export._direct_supported()
    direct = Pipeline(encodes_ahead=True)
    _write(loggers, direct.handler)
    assert direct.items() and all(isinstance(i, ReadableLogRecord) for i in direct.items())


def test_a_processor_that_takes_no_bytes_turns_the_direct_path_off(loggers: list[logging.Logger]) -> None:
    direct = Pipeline(encodes_ahead=True)
    loggers[1].addHandler(direct.handler)
    loggers[1].warning("first")
    memory = InMemoryLogRecordExporter()
    direct.provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    loggers[1].warning("second")
    assert [type(i) for i in direct.items()] == [EncodedRecord, ReadableLogRecord]
    assert [r.log_record.body for r in memory.get_finished_logs()] == ["second"]


def test_a_failing_direct_path_falls_back_for_good(monkeypatch: pytest.MonkeyPatch,
                                                  loggers: list[logging.Logger]) -> None:
    direct = Pipeline(encodes_ahead=True)
    loggers[1].addHandler(direct.handler)

    def broken(*args: Any) -> bytes:
        raise AttributeError("not this SDK")

    monkeypatch.setattr(log_export.otlp_logs, "encode_record", broken)
    loggers[1].warning("still exported")
    assert [i.log_record.body for i in direct.items()] == ["still exported"]
    assert not direct.handler._direct


def test_only_the_otlp_http_exporter_takes_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp,console")
    for protocol, expected in (("http/protobuf", [True, False]), ("grpc", [False, False])):
        pipeline = log_export.build_log_pipeline(RESOURCE, "http://127.0.0.1:9", protocol)
        assert pipeline is not None
        processors = pipeline.provider._multi_log_record_processor._log_record_processors
        assert [getattr(p, "encodes_ahead", None) for p in processors] == expected, protocol
        pipeline.provider.shutdown()
    assert re.fullmatch(r"\d+\.\d+\.\d+", SDK_PIN)


def test_access_records_from_the_cache_are_the_sdks_records(loggers: list[logging.Logger]) -> None:
    """The access record's attributes but its duration are kept encoded by their values: repeated, without a
    route or client, with a status of another type, a duration that is no float (plain_attributes decides)."""
    direct, sdk = Pipeline(encodes_ahead=True), Pipeline(encodes_ahead=False)
    access = loggers[0]
    for handler in (direct.handler, sdk.handler):
        access.addHandler(handler)
    base = {"http.request.method": "GET", "url.path": "/health", "http.response.status_code": 200}
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("GET /health"):
        for extra in ({**base, "http.server.request.duration": 0.001, "http.route": "/health", "client.address": "a"},
                      {**base, "http.server.request.duration": 0.002, "http.route": "/health", "client.address": "a"},
                      {**base, "http.server.request.duration": 0.003},
                      {**base, "http.response.status_code": True, "http.server.request.duration": 0.004},
                      {**base, "http.server.request.duration": 5}):
            access.info("%s", "line", extra=extra)
    direct_items, sdk_items = direct.items(), sdk.items()
    assert [type(i) for i in direct_items] == [EncodedRecord] * 5
    assert _parsed(encode_logs(direct_items)) == _parsed(official_encode_logs(sdk_items))
    assert len(direct.handler._access_parts) == 3  # the first two share their parts; 5 is not a float
