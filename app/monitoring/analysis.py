"""Performance answers: the KPIs against the catalog, where request time goes, and what to do about it.

A KPI is judged exactly as the alert engine judges it (``alerts.breaches``), so ``/performance`` and
``/alerts`` cannot disagree on the same window; a KPI with too few samples is ``insufficient_data``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.monitoring.alerts import breaches
from app.monitoring.kpis import KPI
from app.monitoring.measurements import Measurements, is_api
from app.monitoring.reports import UNITS, iso
from app.monitoring.windows import Window, mean, quantile
from instrumentation import instruments as names
from instrumentation.snapshot import HistogramPoint

SLOWEST_ROUTES = 5


def threshold_of(catalog: Sequence[KPI], name: str) -> float:
    """The threshold of the catalog's KPI ``name``: the one declaration every answer reads."""
    return next(k.threshold for k in catalog if k.name == name)


def kpi_results(catalog: Sequence[KPI], m: Measurements) -> list[dict[str, Any]]:
    failed = {kpi.name for kpi, _value in breaches(catalog, m)}
    rows = []
    for kpi in catalog:
        value = float(getattr(m, kpi.field))
        samples = int(getattr(m, kpi.min_field)) if kpi.min_field else None
        if kpi.name in failed:
            status = "fail"
        elif samples is not None and samples < kpi.min_samples:
            status = "insufficient_data"
        else:
            status = "pass"
        rows.append({"name": kpi.name, "title": kpi.title, "value": value, "op": kpi.op,
                     "threshold": kpi.threshold, "unit": kpi.unit, "severity": kpi.severity,
                     "status": status, "passed": status != "fail", "samples": samples,
                     "min_samples": kpi.min_samples})
    return rows


def _window(window: Window) -> dict[str, Any]:
    return {"start": iso(window.old.timestamp), "end": iso(window.new.timestamp),
            "covered_seconds": round(window.seconds, 3)}


def performance(catalog: Sequence[KPI], window: Window, m: Measurements,
                routes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``GET performance``: every KPI with pass/fail, and latency percentiles per route."""
    kpis = kpi_results(catalog, m)
    failed = [k["name"] for k in kpis if k["status"] == "fail"]
    counts = {s: sum(k["status"] == s for k in kpis) for s in ("pass", "fail", "insufficient_data")}
    return {
        "status": "fail" if failed else "pass",
        "window": _window(window),
        "units": UNITS,
        "kpis": kpis,
        "summary": {"total": len(kpis), "passed": counts["pass"], "failed": counts["fail"],
                    "insufficient_data": counts["insufficient_data"], "failed_kpis": failed},
        "latency": {
            "api": {"requests": m.requests, "avg_response_time": m.avg_response_time,
                    "p50_response_time": m.p50_response_time, "p95_response_time": m.p95_response_time,
                    "p99_response_time": m.p99_response_time},
            "by_route": list(routes),
        },
    }


def _dependency(name: str, whole: HistogramPoint | None, errors: HistogramPoint | None,
                parts: Mapping[str, HistogramPoint], request_ms: float) -> dict[str, Any]:
    calls = whole.count if whole else 0
    total_ms = whole.sum * 1000 if whole else 0.0
    return {
        "name": name, "calls": calls, "errors": errors.count if errors else 0,
        "avg_ms": round(mean(whole) * 1000, 3), "p95_ms": round(quantile(0.95, whole) * 1000, 3),
        "p99_ms": round(quantile(0.99, whole) * 1000, 3), "total_ms": round(total_ms, 3),
        "share_of_request_time_percent": round(100 * total_ms / request_ms, 3) if request_ms > 0 else 0.0,
        "by_operation": {op: {"calls": p.count, "avg_ms": round(mean(p) * 1000, 3),
                              "p95_ms": round(quantile(0.95, p) * 1000, 3)} for op, p in sorted(parts.items())},
    }


def dependencies_time(window: Window, request_ms: float) -> list[dict[str, Any]]:
    """Time spent in Redis, the LLM provider and the cache, each with its share of API request time."""
    def redis(a: Mapping[str, object]) -> bool:
        return a.get("db.system.name") == "redis"

    def failed(a: Mapping[str, object]) -> bool:
        return "error.type" in a

    def redis_failed(a: Mapping[str, object]) -> bool:
        return redis(a) and failed(a)

    rows = [
        _dependency("redis", window.histogram(names.DB_DURATION, redis),
                    window.histogram(names.DB_DURATION, redis_failed),
                    window.histogram_by(names.DB_DURATION, "db.operation.name", redis), request_ms),
        _dependency("llm", window.histogram(names.GENAI_DURATION), window.histogram(names.GENAI_DURATION, failed),
                    window.histogram_by(names.GENAI_DURATION, "gen_ai.request.model"), request_ms),
        _dependency("cache", window.histogram(names.CACHE_DURATION), None,
                    window.histogram_by(names.CACHE_DURATION, "llm_obs.cache.operation"), request_ms),
    ]
    return sorted(rows, key=lambda r: -r["total_ms"])


# What to do when a KPI is breached, keyed by the measured field, phrased from the evidence.
_ADVICE: dict[str, Callable[[Measurements, Mapping[str, Any]], str]] = {
    "p95_response_time": lambda m, top: (
        f"API P95 is {m.p95_response_time:g} ms; {top['name']} takes {top['share_of_request_time_percent']:g}% "
        f"of request time (p95 {top['p95_ms']:g} ms over {top['calls']} calls): start there"),
    "p99_response_time": lambda m, top: (
        f"API P99 is {m.p99_response_time:g} ms; the tail follows {top['name']} "
        f"(p99 {top['p99_ms']:g} ms): check retries ({m.retries}) and slow provider calls"),
    "error_rate": lambda m, _top: (
        f"{m.errors} of {m.requests} API requests failed ({m.error_rate:g}%); the LLM failed {m.ai_errors} of "
        f"{m.ai_calls} calls; open breakers: {', '.join(m.open_breakers) or 'none'}: "
        "check GET /internal/resilience/circuit-breakers and the provider"),
    "hit_ratio": lambda m, _top: (
        f"cache hit ratio {m.hit_ratio:g}% ({m.cache_misses} misses in {m.cache_lookups} lookups): "
        "see GET /internal/cache/performance-analysis; repeated texts with different options miss"),
    "memory_usage_percent": lambda m, _top: (
        f"process memory {m.process_memory_mb:g} MB is {m.memory_usage_percent:g}% of its limit: "
        "see GET /internal/monitoring/memory-stats and memory-trends"),
    "cache_memory_mb": lambda m, _top: (
        f"the memory tier holds {m.cache_memory_mb:g} MB in {m.cache_entries} entries: "
        "POST /internal/cache/cleanup, or lower CACHE_MEMORY_MAX_BYTES"),
    "redis_p95_ms": lambda m, _top: (
        f"Redis P95 {m.redis_p95_ms:g} ms over {m.redis_operations} operations ({m.redis_errors} failed): "
        "check Redis load and the network; GET /internal/monitoring/dependencies"),
    "ai_p95_ms": lambda m, _top: (
        f"AI P95 {m.ai_p95_ms:g} ms over {m.ai_calls} calls: the provider is slow; caching and "
        "a faster model help, the breaker opens if it starts failing"),
    "ai_ttfc_p95_ms": lambda m, _top: (
        f"the first chunk of a streamed answer takes {m.ai_ttfc_p95_ms:g} ms (P95 over {m.ai_streams} streams): "
        "the provider queues the call before it starts; a smaller prompt or a faster model help"),
    "open_breaker_count": lambda m, _top: (
        f"open circuit breakers: {', '.join(m.open_breakers)}; reset with POST "
        "/internal/resilience/circuit-breakers/{name}/reset once the provider answers again"),
    "config_load_ms": lambda m, _top: (
        f"configuration took {m.config_load_ms:g} ms to load: check the .env file and its volume"),
}


def recommendations(catalog: Sequence[KPI], m: Measurements,
                    deps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    top = deps[0]
    found = []
    for kpi, value in breaches(catalog, m):
        advice = _ADVICE.get(kpi.field)
        found.append({"kpi": kpi.name, "severity": kpi.severity, "value": value, "threshold": kpi.threshold,
                      "unit": kpi.unit,
                      "recommendation": advice(m, top) if advice else f"{kpi.title} is {value:g} {kpi.unit}"})
    return found


def performance_analysis(catalog: Sequence[KPI], window: Window, m: Measurements,
                         routes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``GET performance-analysis``: slowest routes and dependencies with evidence, and advice."""
    api = window.histogram(names.HTTP_SERVER_DURATION, is_api)
    request_ms = api.sum * 1000 if api else 0.0
    deps = dependencies_time(window, request_ms)
    advice = recommendations(catalog, m, deps)
    slowest = sorted((r for r in routes if r["requests"] > 0), key=lambda r: -r["p95_response_time"])
    bottleneck = deps[0] if deps[0]["calls"] else None
    summary = (f"{len(advice)} KPI(s) breached" if advice else "no KPI breached") + (
        f"; most request time goes to {bottleneck['name']} ({bottleneck['share_of_request_time_percent']:g}%)"
        if bottleneck else "; no dependency calls measured in the window")
    return {
        "window": _window(window),
        "units": UNITS,
        "request_time": {"api_requests": m.requests, "total_ms": round(request_ms, 3),
                         "avg_response_time": m.avg_response_time, "p95_response_time": m.p95_response_time,
                         "p99_response_time": m.p99_response_time},
        "slowest_routes": slowest[:SLOWEST_ROUTES],
        "dependencies": deps,
        "bottleneck": bottleneck["name"] if bottleneck else "none",
        "breached_kpis": [a["kpi"] for a in advice],
        "recommendations": advice,
        "summary": summary,
        "note": "shares are of API request time; cache time includes the Redis calls it makes",
    }
