"""The frontend's backend client without a browser or Streamlit: spans, trace context, errors, links."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend"))

from llm_frontend.backend import BackendClient, BackendError, BackendUnavailable, describe_detail
from llm_frontend.grafana import dashboard_url, explore_trace_url
from llm_frontend.settings import FrontendSettings

pytestmark = pytest.mark.frontend


def _client(handler: httpx.MockTransport, exporter: InMemorySpanExporter, api_key: str = "") -> BackendClient:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return BackendClient(FrontendSettings(backend_url="http://backend.test", api_key=api_key), provider,
                         transport=handler)


def test_one_action_is_one_trace_and_carries_traceparent_and_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"operation": "summarize", "result": "ok", "cache_hit": True})

    exporter = InMemorySpanExporter()
    client = _client(httpx.MockTransport(answer), exporter, api_key="k1")
    with client.action("frontend.process_text", operation="summarize") as act:
        body = act.post("/v1/text_processing/process", json={"text": "x" * 10, "operation": "summarize"})
    assert body["cache_hit"] is True and act.elapsed_ms > 0

    assert seen[0].headers["authorization"] == "Bearer k1"
    version, trace_id, _parent, flags = seen[0].headers["traceparent"].split("-")
    assert (version, trace_id) == ("00", act.trace_id) and int(flags, 16) & 1  # sampled
    spans = {s.name: s for s in exporter.get_finished_spans()}
    action = spans["frontend.process_text"]
    http = next(s for s in spans.values() if s.kind == SpanKind.CLIENT)
    assert http.parent is not None and http.parent.span_id == action.context.span_id
    assert action.attributes is not None and action.attributes["llm_obs.operation"] == "summarize"


def test_the_operations_page_sends_the_operator_key_and_v1_the_client_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    provider = TracerProvider()
    settings = FrontendSettings(backend_url="http://backend.test", api_key="client-k", operator_key="ops-k")
    client = BackendClient(settings, provider, transport=httpx.MockTransport(answer))
    with client.action("frontend.operations") as act:
        act.get("/internal/monitoring/overview")
        act.post("/v1/text_processing/process", json={"text": "x" * 10, "operation": "summarize"})
    assert [r.headers["authorization"] for r in seen] == ["Bearer ops-k", "Bearer client-k"]
    alone = BackendClient(FrontendSettings(backend_url="http://backend.test"), provider,
                          transport=httpx.MockTransport(answer))
    with alone.action("frontend.operations") as act:
        act.get("/internal/monitoring/overview")
    assert "authorization" not in seen[-1].headers  # no key configured: none sent (loopback backend)


def test_errors_keep_the_backend_detail_and_mark_the_span() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"detail": "The AI service is unavailable: circuit open.",
                                         "error": "circuit_open"})

    exporter = InMemorySpanExporter()
    client = _client(httpx.MockTransport(answer), exporter)
    with pytest.raises(BackendError) as caught, client.action("frontend.process_text") as act:
        act.post("/v1/text_processing/process", json={})
    assert caught.value.status == 503 and caught.value.error == "circuit_open"
    assert caught.value.detail == "The AI service is unavailable: circuit open."
    action = next(s for s in exporter.get_finished_spans() if s.name == "frontend.process_text")
    assert action.status.status_code == StatusCode.ERROR
    assert action.attributes is not None and action.attributes["error.type"] == "503"


def test_unreachable_backend() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = _client(httpx.MockTransport(refuse), InMemorySpanExporter())
    with pytest.raises(BackendUnavailable, match=r"http://backend.test cannot be reached \(ConnectError\)"), \
            client.action("frontend.load_operations") as act:
        act.get("/internal/monitoring/health")


@pytest.mark.parametrize(("body", "text", "expected"), [
    ({"detail": "API key not valid"}, "", "API key not valid"),
    ({"detail": [{"loc": ["body", "text"], "msg": "String should have at least 10 characters"},
                 {"loc": ["body"], "msg": "Value error, operation 'qa' needs a non-empty 'question'"}]}, "",
     "text: String should have at least 10 characters; operation 'qa' needs a non-empty 'question'"),
    (None, "<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
    (None, "", "HTTP 500 without a body"),
])
def test_describe_detail(body: object, text: str, expected: str) -> None:
    assert describe_detail(500, body, text) == expected


def test_settings_and_grafana_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_URL", "http://backend:8000/")
    monkeypatch.setenv("GRAFANA_URL", "http://grafana:3000/")
    monkeypatch.setenv("BACKEND_TIMEOUT_SECONDS", "not a number")
    monkeypatch.delenv("API_KEY", raising=False)
    s = FrontendSettings.from_env()
    assert (s.backend_url, s.grafana_url, s.api_key, s.timeout_s) == ("http://backend:8000", "http://grafana:3000",
                                                                       "", 60.0)
    assert dashboard_url(s.grafana_url, "llm-performance") == "http://grafana:3000/d/llm-performance"
    url = urlsplit(explore_trace_url(s.grafana_url, "ab" * 16))
    assert url.path == "/explore"
    pane = json.loads(parse_qs(url.query)["panes"][0])["trace"]
    assert pane["datasource"] == "tempo" and pane["queries"][0]["query"] == "ab" * 16
