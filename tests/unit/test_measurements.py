"""``measure(Window)``: traffic recorded through the real instruments, read back in the guide's units."""

from __future__ import annotations

import pytest
from opentelemetry.metrics import Observation

from app.monitoring.measurements import measure
from app.monitoring.windows import Window
from instrumentation import Telemetry
from instrumentation.instruments import (
    BREAKER_STATE,
    CACHE_ENTRIES,
    CACHE_MEMORY,
    MEMORY_LIMIT,
    PROCESS_MEMORY,
    USAGE_ESTIMATED,
)

from .traffic import API_ROUTE, http_histogram, request_attrs

HIT = {"llm_obs.cache.result": "hit", "llm_obs.cache.tier": "memory", "llm_obs.operation": "summarize"}
REDIS_HIT = {"llm_obs.cache.result": "hit", "llm_obs.cache.tier": "redis", "llm_obs.operation": "summarize"}
MISS = {"llm_obs.cache.result": "miss", "llm_obs.cache.tier": "none", "llm_obs.operation": "summarize"}


def api_traffic(telemetry: Telemetry) -> None:
    """100 API requests: 90 fast successes at 200 ms, 10 slow failures at 3 s."""
    hist = http_histogram(telemetry)
    for _ in range(90):
        hist.record(0.2, request_attrs(API_ROUTE, 200))
    for _ in range(10):
        hist.record(3.0, request_attrs(API_ROUTE, 500))


def test_api_requests_errors_and_percentiles(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(1000.0)
    api_traffic(telemetry)
    m = measure(Window(old, telemetry.reader.snapshot(1100.0)))

    assert m.window_seconds == 100.0
    assert m.requests == 100
    assert m.errors == 10
    assert m.error_rate == 10.0  # percent, not a fraction
    assert m.requests_per_second == 1.0
    assert m.avg_response_time == pytest.approx(480.0)  # ms: (90 * 0.2 + 10 * 3) / 100 s
    # bucket (0.1, 0.25] holds 90, bucket (2.5, 5] holds 10; interpolated as histogram_quantile does
    assert m.p50_response_time == pytest.approx(1000 * (0.1 + 0.15 * 50 / 90), abs=0.001)
    assert m.p95_response_time == pytest.approx(3750.0)
    assert m.p99_response_time == pytest.approx(4750.0)


def test_internal_and_health_routes_are_not_api_requests(telemetry: Telemetry) -> None:
    hist = http_histogram(telemetry)
    old = telemetry.reader.snapshot(0.0)
    for _ in range(20):
        hist.record(0.02, request_attrs(API_ROUTE, 200))
    for route in ("/health", "/internal/monitoring/overview", "/internal/cache/stats"):
        for _ in range(30):
            hist.record(9.0, request_attrs(route, 500, "GET"))
    m = measure(Window(old, telemetry.reader.snapshot(60.0)))

    assert m.requests == 20
    assert m.errors == 0
    assert m.error_rate == 0.0
    assert m.p99_response_time <= 25.0  # the 9 s internal requests are not in the API's latency


def test_client_errors_are_not_server_errors(telemetry: Telemetry) -> None:
    hist = http_histogram(telemetry)
    old = telemetry.reader.snapshot(0.0)
    for status in (200, 200, 401, 422, 503):
        hist.record(0.05, request_attrs(API_ROUTE, status))
    m = measure(Window(old, telemetry.reader.snapshot(60.0)))
    assert (m.requests, m.errors, m.error_rate) == (5, 1, 20.0)


def test_traffic_before_the_window_is_not_measured(telemetry: Telemetry) -> None:
    api_traffic(telemetry)
    old = telemetry.reader.snapshot(0.0)
    http_histogram(telemetry).record(0.2, request_attrs(API_ROUTE, 200))
    m = measure(Window(old, telemetry.reader.snapshot(300.0)))
    assert (m.requests, m.errors, m.error_rate) == (1, 0, 0.0)


def test_hit_ratio_in_percent(telemetry: Telemetry) -> None:
    lookups = telemetry.instruments.cache_lookups
    old = telemetry.reader.snapshot(0.0)
    lookups.add(2, HIT)
    lookups.add(1, REDIS_HIT)
    lookups.add(1, MISS)
    m = measure(Window(old, telemetry.reader.snapshot(60.0)))
    assert (m.cache_lookups, m.cache_hits, m.cache_misses) == (4, 3, 1)
    assert m.hit_ratio == 75.0


def test_an_idle_window_measures_zeroes(telemetry: Telemetry) -> None:
    m = measure(Window(telemetry.reader.snapshot(0.0), telemetry.reader.snapshot(60.0)))
    assert (m.requests, m.error_rate, m.p95_response_time, m.hit_ratio, m.ai_calls) == (0, 0.0, 0.0, 0.0, 0)
    assert m.open_breakers == []


def test_genai_and_redis_measurements(telemetry: Telemetry) -> None:
    ins = telemetry.instruments
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "offline", "gen_ai.request.model": "m"}
    old = telemetry.reader.snapshot(0.0)
    for _ in range(3):
        ins.genai_duration.record(1.0, base)
    ins.genai_duration.record(5.0, {**base, "error.type": "LLMTransientError"})
    ins.genai_tokens.record(120, {**base, "gen_ai.token.type": "input"})
    ins.genai_tokens.record(30, {**base, "gen_ai.token.type": "output"})
    # estimated counts (LLM_ESTIMATE_TOKENS) are marked, and not the provider's: not in the totals
    ins.genai_tokens.record(999, {**base, "gen_ai.token.type": "input", USAGE_ESTIMATED: True})
    ins.db_duration.record(0.002, {"db.system.name": "redis", "db.operation.name": "GET"})
    ins.db_duration.record(0.004, {"db.system.name": "redis", "db.operation.name": "SET",
                                   "error.type": "TimeoutError"})
    m = measure(Window(old, telemetry.reader.snapshot(60.0)))
    assert (m.ai_calls, m.ai_errors) == (4, 1)
    assert m.ai_avg_ms == pytest.approx(2000.0)
    assert (m.input_tokens, m.output_tokens) == (120, 30)
    assert (m.redis_operations, m.redis_errors) == (2, 1)
    assert m.redis_avg_ms == pytest.approx(3.0)
    assert 0 < m.redis_p95_ms <= 5.0


def test_gauges_breakers_and_memory(telemetry: Telemetry) -> None:
    ins = telemetry.instruments
    ins.observe(CACHE_MEMORY, lambda: [Observation(2_500_000, {"llm_obs.cache.tier": "memory"})])
    ins.observe(CACHE_ENTRIES, lambda: [Observation(42, {"llm_obs.cache.tier": "memory"})])
    ins.observe(PROCESS_MEMORY, lambda: [Observation(400_000_000)])
    ins.observe(MEMORY_LIMIT, lambda: [Observation(1_000_000_000)])
    ins.observe(BREAKER_STATE, lambda: [Observation(2, {"llm_obs.circuit_breaker.name": "ai_service"}),
                                        Observation(0, {"llm_obs.circuit_breaker.name": "summarize"})])
    m = measure(Window(telemetry.reader.snapshot(0.0), telemetry.reader.snapshot(60.0)))
    assert m.cache_memory_mb == 2.5
    assert m.cache_entries == 42
    assert m.memory_usage_percent == 40.0
    assert m.breaker_states == {"ai_service": "open", "summarize": "closed"}
    assert m.open_breakers == ["ai_service"]
    assert m.open_breaker_count == 1
    assert m.as_dict()["open_breakers"] == ["ai_service"]
