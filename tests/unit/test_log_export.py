"""Logs over OTLP: records written inside a request carry its trace, span, severity and Resource; one
access record per request, inside its trace; ``OTEL_LOGS_EXPORTER`` and ``OTEL_SDK_DISABLED`` switch it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as official_encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from instrumentation import Telemetry, TelemetryConfig, build_telemetry
from instrumentation.access import ACCESS_LOGGER
from instrumentation.auto import HttpMode, instrument_fastapi
from instrumentation.log_export import OTLPLoggingHandler, logs_exporters
from instrumentation.otlp_logs import encode_logs

SECRET = "apikey-QUERY-7f3a"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_LOGS_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                 "OTEL_TRACES_SAMPLER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)


class Harness:
    def __init__(self, mode: HttpMode = "lean") -> None:
        self.spans, self.logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
        self.telemetry: Telemetry = build_telemetry(TelemetryConfig(
            service_name="test-service", extra_span_exporters=(self.spans,), extra_log_exporters=(self.logs,)))
        app = FastAPI()

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, Any]:
            logging.getLogger("tests.route").warning("looking up item %s", item_id)
            return {"id": item_id}

        instrument_fastapi(app, self.telemetry, mode)
        self.client = TestClient(app)

    def server_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.kind == SpanKind.SERVER]

    def records(self, logger: str) -> list[ReadableLogRecord]:
        return [r for r in self.logs.get_finished_logs()
                if r.instrumentation_scope is not None and r.instrumentation_scope.name == logger]


@pytest.fixture
def harness(caplog: pytest.LogCaptureFixture) -> Iterator[Harness]:
    caplog.set_level(logging.INFO)  # the root's level, as LOG_LEVEL sets it
    made = Harness()
    yield made
    made.telemetry.shutdown()


def test_a_record_logged_inside_a_request_carries_its_trace_span_severity_and_resource(harness: Harness) -> None:
    assert harness.client.get("/items/7").status_code == 200
    (span,) = harness.server_spans()
    (record,) = harness.records("tests.route")
    log = record.log_record
    assert span.context is not None
    assert (log.trace_id, log.span_id) == (span.context.trace_id, span.context.span_id)
    assert log.severity_text == "WARN" and log.severity_number is not None and log.severity_number.name == "WARN"
    assert log.body == "looking up item 7"
    assert record.resource is harness.telemetry.resource  # the one Resource of every provider
    assert record.resource.attributes["service.name"] == "test-service"
    assert not any(key.startswith("otel") for key in log.attributes or {})  # the stdout format's fields stay there
    assert dict(log.attributes or {})["code.function.name"] == "item"


@pytest.mark.parametrize("mode", ["lean", "stock", "off"])
def test_each_request_yields_one_access_record_inside_its_trace(mode: HttpMode, caplog: pytest.LogCaptureFixture
                                                               ) -> None:
    caplog.set_level(logging.INFO)
    harness = Harness(mode)
    try:
        for i in range(3):
            assert harness.client.get(f"/items/{i}", params={"api_key": SECRET}).status_code == 200
        assert harness.client.get("/missing").status_code == 404
        access = harness.records(ACCESS_LOGGER)
        assert len(access) == 4
        if mode != "off":
            spans = {s.context.trace_id: s for s in harness.server_spans() if s.context is not None}
            assert sorted(r.log_record.trace_id for r in access) == sorted(spans)  # one each, in its trace
            for record in access:
                assert record.log_record.span_id == spans[record.log_record.trace_id].context.span_id  # type: ignore[union-attr]
        first = dict(access[0].log_record.attributes or {})
        assert {k: first[k] for k in ("http.request.method", "http.route", "url.path", "http.response.status_code")} \
            == {"http.request.method": "GET", "http.route": "/items/{item_id}", "url.path": "/items/0",
                "http.response.status_code": 200}
        assert isinstance(first["http.server.request.duration"], float)
        assert "code.file.path" not in first  # always the same line of access.py
        assert access[0].log_record.body == 'testclient:50000 - "GET /items/0 HTTP/1.1" 200 ' + \
            f"{first['http.server.request.duration'] * 1000:.1f}ms"
        assert dict(access[3].log_record.attributes or {})["http.response.status_code"] == 404
        assert not any(SECRET in str(r.log_record.body) + str(dict(r.log_record.attributes or {})) for r in access)
    finally:
        harness.telemetry.shutdown()


def test_the_opentelemetry_loggers_stay_out_of_the_pipeline(harness: Harness) -> None:
    logging.getLogger("opentelemetry.sdk._shared_internal").warning("Exception while exporting Log.")
    logging.getLogger("opentelemetry").warning("root of the SDK's loggers")
    logging.getLogger("opentelemetry_lookalike").warning("not one of them")
    assert [r.log_record.body for r in harness.logs.get_finished_logs()] == ["not one of them"]


def test_a_full_queue_is_warned_about_once(caplog: pytest.LogCaptureFixture) -> None:
    # The SDK's own filter lets the same warning through again after 20 s or after any other line.
    sdk = logging.getLogger("opentelemetry.sdk._shared_internal")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            sdk.warning("Queue full, dropping %s.", "TestSignal")
            sdk.warning("Exception while exporting %s.", "TestSignal")
    assert [r.getMessage() for r in caplog.records] == ["Queue full, dropping TestSignal."] + \
        ["Exception while exporting TestSignal."] * 3


def test_records_with_other_attributes_take_the_sdk_path(harness: Harness) -> None:
    logging.getLogger("tests.extra").warning("with a map", extra={"audit": {"status": 401}, "blob": b"x"})
    (record,) = harness.records("tests.extra")
    assert dict(record.log_record.attributes or {})["audit"] == {"status": 401}


def test_shutdown_detaches_the_handler(harness: Harness) -> None:
    assert any(isinstance(h, OTLPLoggingHandler) for h in logging.getLogger().handlers)
    harness.telemetry.shutdown()
    assert not any(isinstance(h, OTLPLoggingHandler) for h in logging.getLogger().handlers)
    logging.getLogger("tests.after").warning("after shutdown")
    assert harness.records("tests.after") == []


@pytest.mark.parametrize(("value", "otlp_on", "expected"), [
    (None, True, ("otlp",)), (None, False, ()), ("none", True, ()), ("console", False, ("console",)),
    ("otlp, console", False, ("otlp", "console")), ("OTLP", False, ("otlp",)), ("nope", True, ("otlp",)),
    ("nope,console", True, ("console",)),
])
def test_otel_logs_exporter(value: str | None, otlp_on: bool, expected: tuple[str, ...],
                            monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    if value is not None:
        monkeypatch.setenv("OTEL_LOGS_EXPORTER", value)
    assert logs_exporters(otlp_on) == expected
    assert any("OTEL_LOGS_EXPORTER" in r.getMessage() for r in caplog.records) == ("nope" in (value or ""))


def test_otel_logs_exporter_none_disables_logs_over_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    telemetry = build_telemetry(TelemetryConfig(service_name="t", otlp_endpoint="http://127.0.0.1:9"))
    try:
        assert telemetry.logs is None
        assert [s.signal for s in telemetry.export_status] == ["traces", "metrics"]
        assert not any(isinstance(h, OTLPLoggingHandler) for h in logging.getLogger().handlers)
    finally:
        telemetry.shutdown()


def test_otlp_export_on_exports_logs_too(monkeypatch: pytest.MonkeyPatch) -> None:
    telemetry = build_telemetry(TelemetryConfig(service_name="t", otlp_endpoint="http://127.0.0.1:9/"))
    try:
        assert telemetry.logs is not None
        assert [(s.signal, s.endpoint) for s in telemetry.export_status][-1] == ("logs", "http://127.0.0.1:9/v1/logs")
    finally:
        telemetry.shutdown()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs.example:4318/custom")
    telemetry = build_telemetry(TelemetryConfig(service_name="t", otlp_endpoint="http://127.0.0.1:9"))
    try:  # the signal's own endpoint wins, as the SDK reads it
        assert telemetry.export_status[-1].endpoint == "http://logs.example:4318/custom"
    finally:
        telemetry.shutdown()


def test_sdk_disabled_means_no_log_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = build_telemetry(TelemetryConfig(service_name="t", otlp_endpoint="http://127.0.0.1:9",
                                                extra_log_exporters=(InMemoryLogRecordExporter(),)))
    try:
        assert telemetry.logs is None
    finally:
        telemetry.shutdown()


def test_fast_encoding_parses_to_the_official_encoders_message(harness: Harness) -> None:
    harness.client.get("/items/1")
    logging.getLogger("tests.extra").warning("map %s", 1, extra={"audit": {"k": [1, 2]}, "n": None, "b": b"x"})
    for _ in range(2):  # twice: the second time from the kept encodings
        logging.getLogger("tests.extra").info("scalars", extra={"f": -0.0, "g": 1.5, "t": True, "i": 1, "s": "é"})
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tests.extra").exception("failed")
    batch = harness.logs.get_finished_logs()
    assert len(batch) >= 6
    assert ExportLogsServiceRequest.FromString(encode_logs(batch)) == official_encode_logs(batch)
