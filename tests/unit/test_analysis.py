"""``/performance`` and ``/performance-analysis`` as pure functions over traffic recorded through the real
instruments: KPI verdicts agree with the alert engine, time is attributed to the right dependency."""

from __future__ import annotations

from dataclasses import replace

from app.monitoring.alerts import breaches
from app.monitoring.analysis import kpi_results, performance, performance_analysis, threshold_of
from app.monitoring.kpis import build_catalog
from app.monitoring.measurements import measure
from app.monitoring.reports import by_route
from app.monitoring.windows import Window
from instrumentation import Telemetry
from instrumentation.snapshot import Snapshot

from .traffic import API_ROUTE, http_histogram, request_attrs

CATALOG = build_catalog()
REDIS_GET = {"db.system.name": "redis", "db.operation.name": "GET"}
LLM = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}


def slow_llm_traffic(telemetry: Telemetry) -> Window:
    """20 API requests of 3 s each, each spending 2.5 s in the LLM and 2 ms in Redis; 2 of them fail."""
    old = telemetry.reader.snapshot(1000.0)
    hist, ins = http_histogram(telemetry), telemetry.instruments
    for i in range(20):
        hist.record(3.0, request_attrs(API_ROUTE, 500 if i < 2 else 200))
        ins.genai_duration.record(2.5, LLM)
        ins.db_duration.record(0.002, REDIS_GET)
        ins.cache_duration.record(0.003, {"llm_obs.cache.operation": "get"})
    hist.record(0.004, request_attrs("/health", 200, "GET"))
    return Window(old, telemetry.reader.snapshot(1300.0))


def test_kpi_verdicts_agree_with_the_alert_engine(telemetry: Telemetry) -> None:
    window = slow_llm_traffic(telemetry)
    m = measure(window)
    rows = {r["name"]: r for r in kpi_results(CATALOG, m)}

    failed = {name for name, r in rows.items() if r["status"] == "fail"}
    assert failed == {kpi.name for kpi, _ in breaches(CATALOG, m)}
    assert {"ApiLatencyP95High", "ApiErrorRateHigh", "ApiErrorRateCritical"} <= failed
    assert rows["ApiErrorRateHigh"]["value"] == 10.0 and rows["ApiErrorRateHigh"]["threshold"] == 1.0
    assert rows["ApiErrorRateHigh"]["passed"] is False
    # 20 requests is enough for the latency KPI; no cache lookups is not enough for the hit ratio
    assert rows["CacheHitRatioLow"]["status"] == "insufficient_data" and rows["CacheHitRatioLow"]["passed"]
    assert rows["CircuitBreakerOpen"]["status"] == "pass"


def test_performance_reports_pass_fail_and_route_percentiles(telemetry: Telemetry) -> None:
    window = slow_llm_traffic(telemetry)
    report = performance(CATALOG, window, measure(window), by_route(window))

    assert report["status"] == "fail"
    assert "ApiLatencyP95High" in report["summary"]["failed_kpis"]
    assert report["summary"]["total"] == len(CATALOG)
    routes = {r["route"]: r for r in report["latency"]["by_route"]}
    assert routes[API_ROUTE]["requests"] == 20
    assert 2500 < routes[API_ROUTE]["p50_response_time"] <= routes[API_ROUTE]["p99_response_time"] <= 5000
    assert routes["/health"]["p99_response_time"] <= 5.0


def test_a_quiet_window_passes(telemetry: Telemetry) -> None:
    window = Window(Snapshot(0.0), telemetry.reader.snapshot(300.0))
    report = performance(CATALOG, window, measure(window), by_route(window))
    assert report["status"] == "pass" and report["summary"]["failed"] == 0


def test_analysis_names_the_llm_as_the_bottleneck_with_its_share(telemetry: Telemetry) -> None:
    window = slow_llm_traffic(telemetry)
    answer = performance_analysis(CATALOG, window, measure(window), by_route(window))

    assert answer["bottleneck"] == "llm"
    deps = {d["name"]: d for d in answer["dependencies"]}
    assert deps["llm"]["calls"] == 20 and deps["llm"]["total_ms"] == 50_000.0
    assert abs(deps["llm"]["share_of_request_time_percent"] - 100 * 2.5 / 3.0) < 0.01
    assert deps["redis"]["calls"] == 20 and deps["redis"]["by_operation"]["GET"]["calls"] == 20
    assert deps["redis"]["p95_ms"] <= 2.5
    assert answer["slowest_routes"][0]["route"] == API_ROUTE


def test_recommendations_follow_the_breached_kpis(telemetry: Telemetry) -> None:
    window = slow_llm_traffic(telemetry)
    answer = performance_analysis(CATALOG, window, measure(window), by_route(window))

    advice = {a["kpi"]: a["recommendation"] for a in answer["recommendations"]}
    assert set(advice) == set(answer["breached_kpis"])
    assert "llm takes 83.333% of request time" in advice["ApiLatencyP95High"]
    assert "2 of 20 API requests failed" in advice["ApiErrorRateHigh"]


def test_no_breach_no_recommendation(telemetry: Telemetry) -> None:
    window = Window(Snapshot(0.0), telemetry.reader.snapshot(300.0))
    answer = performance_analysis(CATALOG, window, measure(window), [])
    assert answer["recommendations"] == [] and answer["bottleneck"] == "none"
    assert answer["summary"].startswith("no KPI breached")


def test_open_breaker_advice_names_the_breaker() -> None:
    m = replace(measure(Window(Snapshot(0.0), Snapshot(60.0))), breaker_states={"ai_service": "open"})
    window = Window(Snapshot(0.0), Snapshot(60.0))
    answer = performance_analysis(CATALOG, window, m, [])
    assert "ai_service" in {a["kpi"]: a["recommendation"] for a in answer["recommendations"]}["CircuitBreakerOpen"]


def test_threshold_of_reads_the_catalog() -> None:
    assert threshold_of(build_catalog(cache_memory_warning_mb=42.0), "CacheMemoryWarning") == 42.0
