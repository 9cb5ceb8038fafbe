"""The trip a user makes in Grafana Explore, walked as one test through the APIs Grafana itself calls:
the LLM vendor fails -> a KPI alert fires in Prometheus -> the dashboard panel's query shows the errors
-> an exemplar on http_server_request_duration_seconds_bucket gives a failing request's trace id ->
Jaeger returns that trace whole -> VictoriaLogs returns that request's log records by its trace id.
With every trace sampled, Jaeger holds one server span for every request sent.

The stack is this test's own: the error-rate rules sum over every series in Prometheus, and another
test's healthy traffic would dilute them. The rules are the shipped ones with `for: 0s` (rules.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.monitoring.dashboards import DASHBOARDS
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService, RedisServer

from .rules import fast_rules_copy, load_rules, prometheus_firing
from .stack import (
    SETUP_TIMEOUT,
    Stack,
    jaeger_spans,
    logsql,
    otlp_attributes,
    poll,
    prom_api,
    service_env,
    traceparent,
)

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]

PROCESS = "/v1/text_processing/process"
SERVER, CLIENT = 2, 3  # OTLP SpanKind
STATUS_ERROR = 2  # OTLP Status.code
ERROR_ALERTS = {"ApiErrorRateCritical", "ApiErrorRateHigh"}


class Traffic:
    """Requests with a traceparent we choose, so every request's trace id is known; statuses kept."""

    def __init__(self, service: LiveService) -> None:
        self.client = httpx.Client(base_url=service.url, timeout=30)
        self.sent: dict[str, int] = {}  # trace id -> status

    def send(self, text: str) -> int:
        trace_id, header = traceparent()
        status = self.client.post(PROCESS, json={"text": text, "operation": "summarize"},
                                  headers={"traceparent": header}).status_code
        self.sent[trace_id] = status
        return status

    def failed(self) -> set[str]:
        return {t for t, status in self.sent.items() if status >= 500}


def error_panel() -> tuple[str, str]:
    """The panel that draws the error-rate KPI, as the dashboard declares it: (title, PromQL)."""
    panel = next(p for _uid, (_t, panels) in DASHBOARDS.items() for p in panels if p.kpi == "ApiErrorRateHigh")
    return panel.title, panel.exprs[0][0]


def exemplar_trace_ids(stack: Stack, selector: str, since: float) -> set[str]:
    data = prom_api(stack.prometheus, "query_exemplars", query=selector, start=since, end=time.time() + 60)
    return {e["labels"].get("trace_id", "") for series in data for e in series["exemplars"]}


def whole(spans: list[tuple[dict[str, Any], dict[str, Any]]]) -> bool:
    """A failing request's trace as the service writes it: server, Redis, GenAI and HTTPX client spans."""
    attrs = [otlp_attributes(s.get("attributes", [])) for _r, s in spans]
    return (any("http.route" in a for a in attrs) and any(a.get("db.system.name") == "redis" for a in attrs)
            and any("gen_ai.operation.name" in a for a in attrs) and any("url.full" in a for a in attrs))


def test_alert_to_panel_to_exemplar_to_trace_to_logs(new_stack: Callable[..., Stack],
                                                     redis_server: RedisServer) -> None:
    stack = new_stack()
    load_rules(stack, fast_rules_copy(stack.run_dir / "rules-fast"))
    name = f"explore-trip-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:6]
    since = time.time() - 60
    with FakeOpenAI() as fake:
        service = LiveService(service_env(
            stack, redis_server.url, name, LLM_PROVIDER="openai", LLM_BASE_URL=fake.base_url, LLM_API_KEY="sk-test",
            OTEL_TRACES_SAMPLER="always_on", RESILIENCE_PRESET="development", RESILIENCE_BASE_DELAY_SECONDS="0",
            LOG_LEVEL="INFO",  # as shipped: the access records too
            # Retries, never the open breaker: every failing request reaches the vendor, so its trace
            # has the HTTPX client spans of the failed calls.
            RESILIENCE_FAILURE_THRESHOLD="1000")).start()
        traffic = Traffic(service)
        try:
            for n in range(5):  # a healthy start
                assert traffic.send(f"Healthy text {n} of run {run}.") == 200
            fake.mode = "error500"
            count = iter(range(10_000))

            def failing_traffic_then(probe: Callable[[], Any]) -> Callable[[], Any]:
                def step() -> Any:
                    for _ in range(3):
                        traffic.send(f"Text {next(count)} of run {run}: the vendor is down.")
                    return probe()
                return step

            # 1. The alert fires in Prometheus.
            firing = poll(failing_traffic_then(lambda: prometheus_firing(stack) & ERROR_ALERTS),
                          "an error-rate KPI alert firing in Prometheus", timeout=120)
            # 2. The panel that draws that KPI shows the errors.
            title, expr = error_panel()
            shown = stack.query(expr)
            assert shown and float(shown[0]["value"][1]) > 0, (title, expr, shown)
            # 3. An exemplar on a 5xx bucket of the SDK histogram names a failing request we sent.
            selector = f'http_server_request_duration_seconds_bucket{{job="{name}",http_response_status_code=~"5.."}}'
            exemplars = poll(failing_traffic_then(lambda: exemplar_trace_ids(stack, selector, since)
                                                  & traffic.failed()),
                             f"an exemplar on {selector} with a failing request's trace id", timeout=90, interval=0.5)
        finally:
            traffic.client.close()
            service.stop()  # flushes the last spans and log records
    trace_id = sorted(exemplars)[0]

    # 4. Jaeger returns that trace whole: parent links intact, error status where the call failed.
    spans = poll(lambda: (found := jaeger_spans(stack.jaeger, trace_id)) and whole(found) and found,
                 f"trace {trace_id} whole in Jaeger")
    assert {r["service.name"] for r, _s in spans} == {name}
    ids = {s["spanId"] for _r, s in spans}
    server = [s for _r, s in spans if s.get("kind") == SERVER]
    assert len(server) == 1
    assert all(s.get("parentSpanId") in ids for _r, s in spans if s is not server[0]), "a span lost its parent"
    server_attrs = otlp_attributes(server[0]["attributes"])
    assert server_attrs["http.route"] == PROCESS and server_attrs["http.response.status_code"] >= 500
    assert server[0].get("status", {}).get("code") == STATUS_ERROR
    by_attrs = [(s, otlp_attributes(s.get("attributes", []))) for _r, s in spans]
    genai = [s for s, a in by_attrs if "gen_ai.operation.name" in a]
    assert genai and all(s.get("status", {}).get("code") == STATUS_ERROR for s in genai)
    vendor_calls = [a for s, a in by_attrs if s.get("kind") == CLIENT and "url.full" in a]
    assert vendor_calls and {a.get("http.response.status_code") for a in vendor_calls} == {500}

    # 5. VictoriaLogs returns that request's log records by its trace id.
    records = poll(lambda: logsql(stack.victorialogs, f"trace_id:{trace_id}"),
                   f"log records of trace {trace_id} in VictoriaLogs")
    assert {r["trace_id"] for r in records} == {trace_id}
    assert {r["span_id"] for r in records} <= ids
    # the vendor's failure, as the service logged it, and the request's access record with its status
    assert any(r["severity_text"] == "WARN" and "LLM provider failed" in r["_msg"] for r in records), records
    assert any(r["scope.name"] == "http.access" and " 50" in r["_msg"] for r in records), records

    # Jaeger's Monitor API (SPM) reads the span metrics in Prometheus: the service's error rate.
    def monitor_errors() -> list[Any]:
        answer = httpx.get(f"{stack.jaeger}/api/metrics/errors", params={"service": name, "spanKind": "server",
                                                                          "lookback": 600_000, "step": 5_000},
                           timeout=10)
        answer.raise_for_status()
        points = [p for m in answer.json().get("metrics", []) for p in m.get("metricPoints", [])]
        # doubleValue is a number, or a string such as "NaN" for a step with no calls
        return [p for p in points if float((p.get("gaugeValue") or {}).get("doubleValue", 0)) > 0]

    assert poll(monitor_errors, "a non-zero error rate in Jaeger's Monitor API", timeout=30)

    # Every request sent has its one server span in Jaeger (every trace sampled).
    def server_spans() -> int:
        return sum(1 for t in traffic.sent for _r, s in jaeger_spans(stack.jaeger, t) if s.get("kind") == SERVER)

    poll(lambda: server_spans() == len(traffic.sent), f"{len(traffic.sent)} server spans in Jaeger", timeout=60)
    print(f"trip: {sorted(firing)} firing; panel {title!r} = {float(shown[0]['value'][1]):.1f}; exemplar "
          f"{trace_id}: {len(spans)} spans in Jaeger, {len(records)} log records; "
          f"{len(traffic.sent)} requests = server spans")
