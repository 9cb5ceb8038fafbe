"""Keys, secrets, prompts and completions never reach logs (stdout or OTLP), spans or metrics (no operator
opt-in exists), and the operator endpoints mask the secrets they report."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.main import create_app, telemetry_config
from instrumentation import build_telemetry
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import free_port
from tests.integration.conftest import LOCAL, make_settings
from tests.integration.test_access import internal_routes

API_KEY = "apikey-ZEBRA-5c1e0f"
EXTRA_KEY = "apikey-OKAPI-77d2aa"
INTERNAL_KEY = "opskey-NARWHAL-90b3"
WRONG_KEY = "guess-TAPIR-3141"
LLM_KEY = "sk-llm-QUOKKA-8e4d21"
WEBHOOK_SECRET = "whsec-AXOLOTL-62f0"
WEBHOOK_TOKEN = "hooktoken-GECKO-11aa"
REDIS_PASSWORD = "redispw-IBEX-4b7c"
OTLP_TOKEN = "otlp-token-LYNX-0d9e"
PROMPT = "PANGOLIN-PROMPT-4471 is the confidential subject. The launch slipped. Nobody outside may know."
QUESTION = "What about PANGOLIN-QUESTION-5522?"
COMPLETION = "WOMBAT-COMPLETION-9088 stays between the provider and the client."
SENTIMENT = f'{{"sentiment": "negative", "confidence": 0.8, "explanation": "{COMPLETION}"}}'
SECRETS = (API_KEY, EXTRA_KEY, INTERNAL_KEY, WRONG_KEY, LLM_KEY, WEBHOOK_SECRET, WEBHOOK_TOKEN, REDIS_PASSWORD,
           OTLP_TOKEN)
CONTENT = ("PANGOLIN-PROMPT", "PANGOLIN-QUESTION", "WOMBAT-COMPLETION", "confidential subject")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.reply = COMPLETION
        yield server


def leaks(text: str) -> list[str]:
    return [s for s in (*SECRETS, *CONTENT) if s in text]


def test_no_secret_or_text_in_logs_spans_metrics_or_operator_answers(
        fake: FakeOpenAI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer {OTLP_TOKEN}")
    spans, metrics, logs = InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogRecordExporter()
    settings = make_settings(
        log_level="DEBUG", monitoring_log_level="DEBUG", api_key=API_KEY, additional_api_keys=EXTRA_KEY,
        internal_api_key=INTERNAL_KEY, llm_provider="openai", llm_base_url=fake.base_url, llm_api_key=LLM_KEY,
        redis_url=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0",  # nobody listens: degraded Redis
        monitoring_webhook_url=f"http://127.0.0.1:{free_port()}/hooks/{WEBHOOK_TOKEN}",
        monitoring_webhook_secret=WEBHOOK_SECRET, monitoring_webhook_backoff_seconds=0,
        monitoring_webhook_timeout_seconds=1)
    config = telemetry_config(settings)
    telemetry = build_telemetry(type(config)(**{**config.__dict__, "extra_span_exporters": (spans,),
                                                "extra_metric_readers": (metrics,), "extra_log_exporters": (logs,)}))
    user, ops = {"Authorization": f"Bearer {API_KEY}"}, {"X-API-Key": INTERNAL_KEY}
    answers: list[str] = []
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings, telemetry), client=(LOCAL, 50000)) as client:
        for operation in ("summarize", "sentiment", "key_points", "questions"):
            fake.reply = SENTIMENT if operation == "sentiment" else COMPLETION
            for _ in range(2):  # the second one is a cache hit
                ok = client.post("/v1/text_processing/process", json={"text": PROMPT, "operation": operation},
                                 headers=user)
                assert ok.status_code == 200, ok.text
        fake.reply = COMPLETION
        qa = client.post("/v1/text_processing/process", headers={"X-API-Key": EXTRA_KEY},
                         json={"text": PROMPT, "operation": "qa", "question": QUESTION})
        assert COMPLETION in qa.text  # the client gets the completion; telemetry does not
        assert fake.last.headers["authorization"] == f"Bearer {LLM_KEY}"
        client.post("/v1/text_processing/batch_process", headers=user,
                    json={"requests": [{"text": f"{PROMPT} {i}", "operation": "summarize"} for i in range(3)]})
        assert client.post("/v1/text_processing/process", json={"text": PROMPT, "operation": "summarize"},
                           headers={"X-API-Key": WRONG_KEY}).status_code == 401
        assert client.post("/v1/text_processing/process", json={"text": PROMPT * 200, "operation": "nope"},
                           headers=user).status_code == 422
        fake.fail_next(5, "error400")
        client.post("/v1/text_processing/process", json={"text": f"{PROMPT} failing", "operation": "summarize"},
                    headers=user)
        assert client.post("/internal/monitoring/test-webhook", headers=ops).status_code == 502
        client.post("/internal/cache/clear", headers=ops)
        client.post("/internal/cache/clear", headers={"Authorization": f"Bearer {WRONG_KEY}"})
        for method, path in internal_routes(client.app):
            if method == "GET" and path != "/internal/cache/backup":  # the backup is the cache's data itself
                answers.append(client.get(path, headers=ops).text)
        config_answer = client.get("/internal/monitoring/config", headers=ops).json()
        exposition = client.get("/internal/monitoring/metrics", params={"format": "prometheus"}, headers=ops).text
        telemetry.tracer_provider.force_flush(5_000)
        metric_data = metrics.get_metrics_data()
    assert metric_data is not None
    found_spans = spans.get_finished_spans()
    assert any(s.attributes and s.attributes.get("gen_ai.operation.name") == "chat" for s in found_spans)
    assert "gen_ai_client_token_usage" in exposition and "PROCESS" not in exposition
    assert any(r.name == "app.audit" for r in caplog.records)
    logged = caplog.text + "\n".join(repr(vars(r)) for r in caplog.records)

    span_leaks = leaks("\n".join(s.to_json() for s in found_spans))
    assert span_leaks == []
    assert leaks(exposition) == [] and leaks(metric_data.to_json()) == []
    assert leaks(logged) == []
    exported = logs.get_finished_logs()  # what the SDK exports over OTLP: bodies and attributes
    assert any(r.instrumentation_scope and r.instrumentation_scope.name == "http.access" for r in exported)
    assert leaks("\n".join(f"{r.log_record.body} {dict(r.log_record.attributes or {})}" for r in exported)) == []
    assert [(i, leaks(a)) for i, a in enumerate(answers) if leaks(a)] == []
    variables = config_answer["variables"]
    assert variables["MONITORING_WEBHOOK_SECRET"]["value"] == "****"
    assert WEBHOOK_TOKEN not in variables["MONITORING_WEBHOOK_URL"]["value"]
    assert config_answer["otel_environment"]["OTEL_EXPORTER_OTLP_HEADERS"] == "authorization=****"


def test_webhook_url_path_stays_out_of_client_spans() -> None:
    spans = InMemorySpanExporter()
    settings = make_settings(redis_enabled=False, monitoring_webhook_url=f"http://127.0.0.1:{free_port()}/hooks/"
                             f"{WEBHOOK_TOKEN}", monitoring_webhook_secret=WEBHOOK_SECRET,
                             monitoring_webhook_backoff_seconds=0)
    config = telemetry_config(settings)
    telemetry = build_telemetry(type(config)(**{**config.__dict__, "extra_span_exporters": (spans,)}))
    with TestClient(create_app(settings, telemetry), client=(LOCAL, 50000)) as client:
        assert client.post("/internal/monitoring/test-webhook").status_code == 502
    client_spans = [s for s in spans.get_finished_spans() if s.attributes and "url.full" in s.attributes]
    assert client_spans  # the delivery attempts were traced
    assert leaks("\n".join(s.to_json() for s in client_spans)) == []
