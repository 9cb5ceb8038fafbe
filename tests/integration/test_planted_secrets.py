"""A distinct secret planted in every setting that holds a URL or a header, as URL user info, query
token or header value: no ``/internal/*`` answer, log line or exported span may show any of them
(issue 15 item 4; the masking rule is instrumentation/redact.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.main import create_app, telemetry_config
from instrumentation import build_telemetry
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.alerts import close_breaker, open_breaker
from tests.helpers.processes import free_port
from tests.helpers.webhook_receiver import wait_until
from tests.integration.conftest import LOCAL, make_settings
from tests.integration.test_access import internal_routes

OPERATOR_KEY = "opskey-MARMOT-1f2e"
LLM_URL_PASSWORD = "llmurlpw-HERON-7a1b"
REDIS_PASSWORD = "redispw-BISON-2c3d"
GATEWAY_PASSWORD = "gatewaypw-OTTER-4e5f"
PROMETHEUS_PASSWORD = "prompw-CRANE-6a7b"
WEBHOOK_PASSWORD = "hookpw-EGRET-8c9d"
WEBHOOK_PATH_TOKEN = "hookpath-MOOSE-0e1f"
WEBHOOK_QUERY_TOKEN = "hookquery-SHREW-2a3b"
OTLP_PASSWORD = "otlppw-VOLE-4c5d"
OTLP_HEADER = "otlphdr-MINK-6e7f"
OTLP_TRACES_HEADER = "otlptraceshdr-STOAT-8a9b"
SECRETS = (OPERATOR_KEY, LLM_URL_PASSWORD, REDIS_PASSWORD, GATEWAY_PASSWORD, PROMETHEUS_PASSWORD, WEBHOOK_PASSWORD,
           WEBHOOK_PATH_TOKEN, WEBHOOK_QUERY_TOKEN, OTLP_PASSWORD, OTLP_HEADER, OTLP_TRACES_HEADER)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def found(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_no_planted_secret_in_any_answer_log_line_or_span(
        fake: FakeOpenAI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {OTLP_HEADER}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x-api-key={OTLP_TRACES_HEADER}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # nobody listens: the exporters give up fast
    closed = free_port()  # nothing listens on it
    spans = InMemorySpanExporter()
    settings = make_settings(
        log_level="DEBUG", monitoring_log_level="DEBUG", internal_api_key=OPERATOR_KEY, metrics_export_interval=1,
        llm_provider="openai", llm_api_key="sk-not-planted",
        llm_base_url=fake.base_url.replace("http://", f"http://llm:{LLM_URL_PASSWORD}@"),
        redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed}/0",
        enable_external_monitoring=True, prometheus_gateway_url=f"http://pgw:{GATEWAY_PASSWORD}@127.0.0.1:{closed}",
        prometheus_url=f"http://prom:{PROMETHEUS_PASSWORD}@127.0.0.1:{closed}", monitoring_query_backend="prometheus",
        monitoring_webhook_url=f"http://hook:{WEBHOOK_PASSWORD}@127.0.0.1:{closed}/hooks/{WEBHOOK_PATH_TOKEN}"
                               f"?token={WEBHOOK_QUERY_TOKEN}",
        monitoring_webhook_secret="whsec-not-planted", monitoring_webhook_backoff_seconds=0,
        monitoring_webhook_max_attempts=1, otel_exporter_otlp_endpoint=f"http://otlp:{OTLP_PASSWORD}@127.0.0.1:{closed}")
    config = telemetry_config(settings)
    telemetry = build_telemetry(type(config)(**{**config.__dict__, "extra_span_exporters": (spans,)}))
    ops = {"X-API-Key": OPERATOR_KEY}
    answers: dict[str, str] = {}
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings, telemetry), client=(LOCAL, 50000), headers=ops) as client:
        services = client.app.state.services
        ok = client.post("/v1/text_processing/process", json={"text": "Planted secrets stay hidden.",
                                                              "operation": "summarize"})
        assert ok.status_code == 200, ok.text  # through the LLM client: a span with url.full
        assert client.post("/internal/monitoring/test-webhook").status_code == 502
        open_breaker(client)  # an alert: a webhook delivery that fails, logged
        close_breaker(client)
        pusher = services.pusher
        assert pusher is not None
        wait_until(lambda: pusher.status.healthy is False, what="the Pushgateway export warning")
        for method, path in internal_routes(client.app):
            if method == "GET":
                answers[path] = client.get(path).text
        wait_until(lambda: services.notifier.status()["failed"] >= 1, what="the alert webhook to fail")
        telemetry.tracer_provider.force_flush(5_000)
    assert len(answers) >= 30 and "/internal/monitoring/status" in answers
    assert any("pushgateway" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert any(s.attributes and "url.full" in s.attributes for s in spans.get_finished_spans())

    assert {path: found(answer) for path, answer in answers.items() if found(answer)} == {}
    logged = caplog.text + "\n".join(repr(vars(r)) for r in caplog.records)
    assert found(logged) == []
    assert found("\n".join(s.to_json() for s in spans.get_finished_spans())) == []
