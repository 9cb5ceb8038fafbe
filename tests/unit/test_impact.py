"""The cost of the instrumentation per request: counts from the history times timed primitives."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from app.monitoring.impact import (
    BUDGET_US_PER_REQUEST,
    TelemetryCosts,
    impact_report,
    measure_costs,
    request_telemetry,
)
from app.monitoring.windows import Window
from instrumentation import Telemetry

from .traffic import API_ROUTE, http_histogram, request_attrs

COSTS = TelemetryCosts(span_us=50.0, histogram_record_us=10.0, counter_add_us=5.0, samples=1000,
                       sampler="AlwaysOnSampler", span_processor="BatchSpanProcessor", metric_readers=2,
                       measured_at=0.0)
LLM = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "offline", "gen_ai.request.model": "m"}


def traffic(telemetry: Telemetry) -> Window:
    """10 requests of 10 ms; half of them call the LLM once and make one cache lookup."""
    old = telemetry.reader.snapshot(0.0)
    hist, ins = http_histogram(telemetry), telemetry.instruments
    for i in range(10):
        hist.record(0.01, request_attrs(API_ROUTE, 200))
        if i % 2:
            ins.genai_duration.record(0.004, LLM)
            ins.cache_lookups.add(1, {"llm_obs.cache.result": "miss"})
    return Window(old, telemetry.reader.snapshot(60.0))


def test_counts_per_request_come_from_the_history(telemetry: Telemetry) -> None:
    made = request_telemetry(traffic(telemetry))
    assert made.requests == 10
    assert made.spans == 15  # 10 server spans and 5 LLM client spans
    assert made.histogram_records == 15
    assert made.counter_adds == 5
    assert made.mean_request_ms == pytest.approx(10.0)


def test_report_multiplies_counts_by_costs(telemetry: Telemetry) -> None:
    window = traffic(telemetry)
    report = impact_report(COSTS, request_telemetry(window), window, history_collect_ms=3.0, interval_s=60.0)
    per = report["per_request"]
    assert (per["spans"], per["histogram_records"], per["counter_adds"]) == (1.5, 1.5, 0.5)
    assert per["telemetry_us"] == pytest.approx(1.5 * 50 + 1.5 * 10 + 0.5 * 5)
    assert per["percent_of_request"] == pytest.approx(100 * 92.5 / 10_000)
    assert report["budget"] == {"us_per_request": BUDGET_US_PER_REQUEST, "within_budget": True}
    assert report["background"]["percent_of_interval"] == pytest.approx(0.005)
    assert report["recommendations"][0].startswith("no action needed")


def test_over_budget_spans_suggest_sampling(telemetry: Telemetry) -> None:
    window = traffic(telemetry)
    costly = TelemetryCosts(200.0, 10.0, 5.0, 1000, "AlwaysOnSampler", "BatchSpanProcessor", 2, 0.0)
    report = impact_report(costly, request_telemetry(window), window, 3.0, 60.0)
    assert report["budget"]["within_budget"] is False
    assert any("OTEL_TRACES_SAMPLER" in advice for advice in report["recommendations"])


def test_a_slow_history_collection_suggests_a_longer_interval(telemetry: Telemetry) -> None:
    window = traffic(telemetry)
    report = impact_report(COSTS, request_telemetry(window), window, history_collect_ms=900.0, interval_s=30.0)
    assert any("METRICS_EXPORT_INTERVAL" in advice for advice in report["recommendations"])


def test_no_requests_gives_zeros_not_errors(telemetry: Telemetry) -> None:
    window = Window(telemetry.reader.snapshot(0.0), telemetry.reader.snapshot(60.0))
    per = impact_report(COSTS, request_telemetry(window), window, 1.0, 60.0)["per_request"]
    assert per["requests"] == 0 and per["telemetry_us"] == 0.0 and per["percent_of_request"] == 0.0


def test_measuring_costs_times_real_primitives_without_touching_the_app(telemetry: Telemetry) -> None:
    before = telemetry.reader.snapshot(0.0)
    sampled = measure_costs(telemetry.resource, ALWAYS_ON, spans_exported=True, metric_readers=2, rounds=3,
                            per_round=50)
    unsampled = measure_costs(telemetry.resource, ALWAYS_OFF, spans_exported=True, metric_readers=2, rounds=3,
                              per_round=50)
    for costs in (sampled, unsampled):
        assert costs.span_us > 0 and costs.histogram_record_us > 0 and costs.counter_add_us > 0
    assert sampled.samples == 150 and sampled.span_processor == "BatchSpanProcessor"
    assert "AlwaysOn" in sampled.sampler and "AlwaysOff" in unsampled.sampler
    after = telemetry.reader.snapshot(1.0)
    assert set(after.values) == set(before.values) and set(after.histograms) == set(before.histograms)
