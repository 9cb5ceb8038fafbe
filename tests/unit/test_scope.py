"""Every instrumentation scope of the service carries the project's version and the semconv schema URL
(``instrumentation.scope``), and nothing in ``app``/``instrumentation`` makes a tracer or meter without it."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import TelemetryConfig, build_telemetry
from instrumentation.auto import instrument_fastapi
from instrumentation.scope import SCHEMA_URL, VERSION

ROOT = Path(__file__).resolve().parents[2]
_CALL = re.compile(r"\.get_(tracer|meter)\(")


def test_the_schema_is_semconv_1_44() -> None:
    assert SCHEMA_URL == "https://opentelemetry.io/schemas/1.44.0"
    assert VERSION and VERSION != "0.0.0"  # the installed project's version


def test_no_tracer_or_meter_is_made_outside_the_scope_module() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{n}" for package in ("app", "instrumentation")
                 for path in sorted((ROOT / package).rglob("*.py")) if path.name != "scope.py"
                 for n, line in enumerate(path.read_text().splitlines(), 1) if _CALL.search(line)]
    assert offenders == []


def test_spans_and_metrics_carry_version_and_schema_url() -> None:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = build_telemetry(TelemetryConfig(service_name="test-service", extra_span_exporters=(spans,),
                                                extra_metric_readers=(metrics,)))
    try:
        app = FastAPI()

        @app.get("/ping")
        async def ping() -> dict[str, bool]:
            return {"ok": True}

        instrument_fastapi(app, telemetry)
        assert TestClient(app).get("/ping").status_code == 200
        telemetry.instruments.db_duration.record(0.001, {"db.system.name": "redis", "db.operation.name": "GET"})
        span_scopes = {s.instrumentation_scope for s in spans.get_finished_spans()}
        data = metrics.get_metrics_data()
        assert data is not None
        metric_scopes = {sm.scope for rm in data.resource_metrics for sm in rm.scope_metrics}
        assert {s.name for s in span_scopes if s} == {"instrumentation.asgi"}
        assert {s.name for s in metric_scopes} >= {"instrumentation.asgi", "llm-text-service"}
        for scope in [*span_scopes, *metric_scopes]:
            assert scope is not None and (scope.version, scope.schema_url) == (VERSION, SCHEMA_URL), scope
    finally:
        telemetry.shutdown()
