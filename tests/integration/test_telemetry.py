"""Traces and metrics as a backend receives them: one trace per request with HTTP, Redis and GenAI
spans; stable semconv names; an OTLP endpoint that is down reported once and harmless."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.main import create_app, telemetry_config
from instrumentation import build_telemetry
from tests.helpers.processes import RedisServer, free_port
from tests.integration.conftest import LOCAL, make_settings

PROCESS = "/v1/text_processing/process"
TEXT = "Exemplars link a slow bucket to its trace. Tempo stores the trace. Grafana jumps between them."


def test_one_request_is_one_trace_with_http_redis_and_genai_spans(redis_server: RedisServer) -> None:
    exporter = InMemorySpanExporter()
    settings = make_settings(redis_url=redis_server.url)
    config = telemetry_config(settings)
    telemetry = build_telemetry(type(config)(**{**config.__dict__, "extra_span_exporters": (exporter,)}))
    with TestClient(create_app(settings, telemetry), client=(LOCAL, 50000)) as client:
        assert client.post(PROCESS, json={"text": TEXT, "operation": "key_points"}).status_code == 200
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.name == "POST /v1/text_processing/process"]
    assert len(server) == 1
    trace_id = server[0].context.trace_id
    assert server[0].attributes["http.route"] == "/v1/text_processing/process"
    assert server[0].attributes["http.response.status_code"] == 200
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    redis_spans = [s for s in in_trace if s.attributes.get("db.system.name") == "redis"]
    # a lookup is one round trip, GET and PTTL pipelined (the memory copy lives no longer than the entry):
    # semconv names a pipeline of different commands PIPELINE, and gives its size
    assert {s.name for s in redis_spans} >= {"PIPELINE", "SET"}
    lookup = next(s for s in redis_spans if s.name == "PIPELINE")
    assert lookup.attributes["db.operation.name"] == "PIPELINE" and lookup.attributes["db.operation.batch.size"] == 2
    assert {s.attributes["db.namespace"] for s in redis_spans} == {"0"}
    assert all(s.attributes["server.port"] == redis_server.port for s in redis_spans)
    genai = [s for s in in_trace if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(genai) == 1 and genai[0].name == "chat offline-extractive-1"
    assert not [k for k in genai[0].attributes if k.startswith("gen_ai.usage.")]  # offline: nothing counted
    assert not any(TEXT[:30] in str(v) for s in spans for v in s.attributes.values())  # no prompt text
    assert {s.name for s in spans}.isdisjoint({"POST /v1/text_processing/process http send",
                                               "POST /v1/text_processing/process http receive"})


def test_http_metrics_use_stable_semconv(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    client.post(PROCESS, json={"text": TEXT, "operation": "sentiment"})
    text = client.get("/internal/monitoring/metrics", params={"format": "prometheus"}).text
    assert ('http_server_request_duration_seconds_count{http_request_method="POST",'
            'http_response_status_code="200",http_route="/v1/text_processing/process"') in text
    assert "http_server_duration_milliseconds" not in text  # the old convention


def test_collector_down_is_reported_once_and_requests_are_unaffected(
        client_for: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # seconds: the exporters give up sooner
    dead = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING, logger="instrumentation.export"):
        client = client_for(redis_enabled=False, otel_exporter_otlp_endpoint=dead, metrics_export_interval=1)
        statuses = [client.post(PROCESS, json={"text": f"{TEXT} {i}", "operation": "summarize"}).status_code
                    for i in range(20)]
        telemetry = client.app.state.services.telemetry
        telemetry.tracer_provider.force_flush(5_000)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(s.failures for s in telemetry.export_status):
            time.sleep(0.2)
        for i in range(5):
            statuses.append(client.post(PROCESS, json={"text": f"{TEXT} again {i}", "operation": "summarize"})
                            .status_code)
        telemetry.tracer_provider.force_flush(5_000)
        health = client.get("/internal/monitoring/health").json()
    assert statuses == [200] * 25
    warnings = [r for r in caplog.records if "export to" in r.getMessage()]
    # one per signal: traces, metrics, logs
    assert sorted(r.args[0] for r in warnings) == ["logs", "metrics", "traces"], [r.getMessage() for r in warnings]
    assert health["components"]["telemetry"]["otlp_export"] == "degraded"
    assert all(e["failures"] >= 1 for e in health["components"]["telemetry"]["exporters"])
