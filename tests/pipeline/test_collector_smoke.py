"""Smoke tests of the telemetry pipeline: OpenTelemetry SDK -> real Collector -> real Prometheus (and
Jaeger).

They assert the exact Prometheus names that dashboards and alert rules will query.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from .stack import SETUP_TIMEOUT, Stack, jaeger_spans, poll, prom_query

# The session fixture may build the Collector inside the first test's setup: allow for it.
pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]


def _resource(service: str, run_id: str) -> Resource:
    return Resource.create({"service.name": service, "service.instance.id": run_id})


def test_counter_and_histogram_reach_prometheus(stack: Stack) -> None:
    run_id = uuid.uuid4().hex
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{stack.otlp_http}/v1/metrics", timeout=10),
        export_interval_millis=60_000,  # we export explicitly with force_flush
    )
    provider = MeterProvider(resource=_resource("pipeline-smoke", run_id), metric_readers=[reader])
    meter = provider.get_meter("tests.pipeline")
    requests = meter.create_counter("test.requests", unit="{request}")
    duration = meter.create_histogram(
        "test.request.duration", unit="s", explicit_bucket_boundaries_advisory=[0.05, 0.1, 0.5, 1.0]
    )
    attrs = {"http.route": "/smoke"}
    requests.add(3, attrs)
    duration.record(0.02, attrs)
    duration.record(0.3, attrs)
    assert provider.force_flush(10_000)
    provider.shutdown()

    # OTel -> Prometheus names: `.` -> `_`, unit `s` -> `_seconds`, counters get `_total`,
    # `{request}` annotations are dropped. Resource attributes become labels (service_name, ...).
    sel = f'{{service_name="pipeline-smoke", service_instance_id="{run_id}", http_route="/smoke"}}'
    counter = poll(lambda: prom_query(stack.prometheus, f"test_requests_total{sel}"), "test_requests_total")
    assert float(counter[0]["value"][1]) == 3.0
    # honor_labels: job/instance are the app's service.name/service.instance.id, not the Collector.
    assert counter[0]["metric"]["job"] == "pipeline-smoke"
    assert counter[0]["metric"]["instance"] == run_id

    buckets = poll(
        lambda: prom_query(stack.prometheus, f"test_request_duration_seconds_bucket{sel}"),
        "test_request_duration_seconds_bucket",
    )
    assert _by_le(buckets) == {0.05: 1.0, 0.1: 1.0, 0.5: 2.0, 1.0: 2.0, float("inf"): 2.0}
    count = prom_query(stack.prometheus, f"test_request_duration_seconds_count{sel}")
    assert float(count[0]["value"][1]) == 2.0
    total = prom_query(stack.prometheus, f"test_request_duration_seconds_sum{sel}")
    assert float(total[0]["value"][1]) == pytest.approx(0.32)


def _by_le(buckets: list[dict[str, Any]]) -> dict[float, float]:
    """Bucket counts keyed by upper bound as a number. The `le` label TEXT differs by Prometheus
    version: 2.x keeps the OpenMetrics spelling (le="1.0"), 3.x normalizes it (le="1"), so rules
    and dashboards must not match `le` by string."""
    return {float(b["metric"]["le"]): float(b["value"][1]) for b in buckets}


def test_span_lands_in_jaeger_and_becomes_span_metrics(stack: Stack) -> None:
    run_id = uuid.uuid4().hex
    started = time.time()
    provider = TracerProvider(resource=_resource("pipeline-smoke-traces", run_id))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{stack.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("tests.pipeline")
    attrs: dict[str, str | int] = {
        "http.request.method": "GET",
        "http.route": "/smoke",
        "http.response.status_code": 200,
    }
    with tracer.start_as_current_span("GET /smoke", kind=SpanKind.SERVER, attributes=attrs) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        time.sleep(0.03)
    provider.shutdown()

    spans = poll(lambda: jaeger_spans(stack.jaeger, trace_id), f"trace {trace_id} in Jaeger")
    assert [(r["service.name"], s["name"]) for r, s in spans] == [("pipeline-smoke-traces", "GET /smoke")]

    # span_metrics connector (v0.165): traces.span.metrics.calls / .duration (unit s).
    sel = '{service_name="pipeline-smoke-traces", span_name="GET /smoke", span_kind="SPAN_KIND_SERVER"}'
    # The connector emits a new series as 0 on its first flush and the real count on the next (so
    # Prometheus sees the 0 -> 1 increase): wait for the count, not just for the series.
    calls = poll(
        lambda: [
            s
            for s in prom_query(stack.prometheus, f"traces_span_metrics_calls_total{sel}")
            if float(s["value"][1]) == 1.0
        ],
        "traces_span_metrics_calls_total == 1",
    )
    labels = calls[0]["metric"]
    assert labels["status_code"] == "STATUS_CODE_UNSET"
    # The dimensions configured in base.yaml.
    assert (labels["http_request_method"], labels["http_route"], labels["http_response_status_code"]) == (
        "GET",
        "/smoke",
        "200",
    )
    buckets = prom_query(stack.prometheus, f"traces_span_metrics_duration_seconds_bucket{sel}")
    by_le = _by_le(buckets)
    assert (by_le[0.005], by_le[0.05], by_le[float("inf")]) == (0.0, 1.0, 1.0)

    # Exemplars survive the whole way (OpenMetrics exposition + Prometheus exemplar storage): the
    # bucket points at the very trace we sent. The connector keeps an exemplar for one flush only,
    # hence the fixture's flush interval >= Prometheus' scrape interval.
    def exemplar_trace_ids() -> set[str]:
        resp = httpx.get(
            f"{stack.prometheus}/api/v1/query_exemplars",
            params={
                "query": f"traces_span_metrics_duration_seconds_bucket{sel}",
                "start": started - 60,
                "end": time.time() + 60,
            },
            timeout=10,
        )
        resp.raise_for_status()
        return {e["labels"].get("trace_id", "") for s in resp.json()["data"] for e in s["exemplars"]}

    poll(lambda: trace_id in exemplar_trace_ids(), f"exemplar with trace_id {trace_id}")


def test_collector_own_metrics_reach_prometheus(stack: Stack) -> None:
    """Prometheus scrapes all four jobs, and the Collector's own counters move when a span arrives
    (names with Prometheus suffixes, see base.yaml: the Collector dashboard queries these)."""

    # The pushgateway job finds its target in the file scripts/pushgateway.sh writes (file_sd).
    jobs = {"otel-collector", "otel-collector-internal", "pushgateway", "prometheus"}

    def all_up() -> list[dict[str, Any]]:
        series = prom_query(stack.prometheus, "up")
        return series if len(series) == len(jobs) and all(s["value"][1] == "1" for s in series) else []

    up = poll(all_up, "up == 1 for all four scrape jobs")
    assert {s["metric"]["job"] for s in up} == jobs

    provider = TracerProvider(resource=_resource("pipeline-smoke-selfmetrics", uuid.uuid4().hex))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{stack.otlp_http}/v1/traces")))
    with provider.get_tracer("tests.pipeline").start_as_current_span("self-metrics probe"):
        pass
    provider.shutdown()

    for promql in (
        'otelcol_receiver_accepted_spans_total{receiver="otlp"} > 0',
        'otelcol_exporter_sent_spans_total{exporter="otlp_grpc/jaeger"} > 0',
        "otelcol_process_memory_rss_bytes > 0",
    ):
        poll(functools.partial(prom_query, stack.prometheus, promql), promql)
