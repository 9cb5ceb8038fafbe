"""The JSON answers of the runbook endpoints, as pure functions of what was measured.

Units: times in milliseconds, ratios in percent (the guide prints ``${CACHE_HIT_RATIO}%``), memory in
MB. Every field the guide's ``jq`` reads is a number or a string, never null, on a fresh app too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.monitoring.alerts import Alert, by_severity
from app.monitoring.health import Status
from app.monitoring.measurements import Measurements, is_api
from app.monitoring.windows import Window, mean, quantile
from instrumentation.instruments import HTTP_SERVER_DURATION

UNITS = {"time": "ms", "ratio": "percent", "memory": "MB"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def system_health(m: Measurements, status: Status, active: Sequence[Alert]) -> dict[str, Any]:
    return {
        "status": status,
        "error_rate": m.error_rate,
        "total_requests": m.requests,
        "requests_per_second": m.requests_per_second,
        "avg_response_time": m.avg_response_time,
        "p95_response_time": m.p95_response_time,
        "p99_response_time": m.p99_response_time,
        "memory_usage_percent": m.memory_usage_percent,
        "process_memory_mb": m.process_memory_mb,
        "active_alerts": len(active),
        "open_circuit_breakers": m.open_breakers,
        "window_seconds": m.window_seconds,
    }


def cache_stats(m: Measurements) -> dict[str, Any]:
    return {"hit_ratio": m.hit_ratio, "hits": m.cache_hits, "misses": m.cache_misses,
            "total_lookups": m.cache_lookups, "avg_lookup_ms": m.cache_avg_lookup_ms,
            "p95_lookup_ms": m.cache_p95_lookup_ms}


def memory_usage(m: Measurements, max_bytes: int, warning_mb: float, critical_mb: float) -> dict[str, Any]:
    status = "critical" if m.cache_memory_mb > critical_mb else (
        "warning" if m.cache_memory_mb > warning_mb else "ok")
    return {"memory_mb": m.cache_memory_mb, "entries": m.cache_entries, "max_mb": round(max_bytes / 1e6, 3),
            "utilization_percent": round(100 * m.cache_memory_mb * 1e6 / max_bytes, 3) if max_bytes else 0.0,
            "warning_threshold_mb": warning_mb, "critical_threshold_mb": critical_mb, "status": status,
            "process_memory_mb": m.process_memory_mb, "process_memory_percent": m.memory_usage_percent}


def ai_metrics(m: Measurements) -> dict[str, Any]:
    return {"calls": m.ai_calls, "errors": m.ai_errors, "avg_response_time": m.ai_avg_ms,
            "p95_response_time": m.ai_p95_ms, "streams": m.ai_streams,
            "p95_time_to_first_chunk": m.ai_ttfc_p95_ms, "input_tokens": m.input_tokens,
            "output_tokens": m.output_tokens,
            "cost_usd": m.ai_cost_usd, "spend_usd_per_hour": m.ai_spend_usd_per_hour}


def redis_metrics(m: Measurements) -> dict[str, Any]:
    return {"operations": m.redis_operations, "errors": m.redis_errors, "avg_latency_ms": m.redis_avg_ms,
            "p95_latency_ms": m.redis_p95_ms}


def alerts_summary(active: Sequence[Alert], resolved: Sequence[Alert], evaluated_at: float | None) -> dict[str, Any]:
    return {
        "alerts": [a.as_dict() for a in active],
        "by_severity": by_severity(active),
        "total_active": len(active),
        "recently_resolved": [a.as_dict() for a in list(resolved)[-10:]],
        "evaluated_at": iso(evaluated_at) if evaluated_at else None,
    }


def by_route(window: Window) -> list[dict[str, Any]]:
    routes = window.histogram_by(HTTP_SERVER_DURATION, "http.route")
    errors = window.histogram_by(
        HTTP_SERVER_DURATION, "http.route",
        lambda a: isinstance(a.get("http.response.status_code"), int)
        and int(a["http.response.status_code"]) >= 500)  # type: ignore[call-overload]
    rows = []
    for route, point in routes.items():
        error_point = errors.get(route)
        rows.append({"route": route, "api": is_api({"http.route": route}), "requests": point.count,
                     "errors": error_point.count if error_point else 0,
                     "avg_response_time": round(mean(point) * 1000, 3),
                     "p50_response_time": round(quantile(0.5, point) * 1000, 3),
                     "p95_response_time": round(quantile(0.95, point) * 1000, 3),
                     "p99_response_time": round(quantile(0.99, point) * 1000, 3)})
    return sorted(rows, key=lambda r: -r["requests"])


def trend_points(points: Sequence[Measurements], window_end: float) -> list[dict[str, Any]]:
    """Per-slice figures, oldest first, each slice ending where the next begins."""
    out: list[dict[str, Any]] = []
    end = window_end - sum(p.window_seconds for p in points)
    for p in points:
        start, end = end, end + p.window_seconds
        out.append({"start": iso(start), "end": iso(end), "hit_ratio": p.hit_ratio, "lookups": p.cache_lookups,
                    "requests": p.requests, "error_rate": p.error_rate,
                    "avg_response_time": p.avg_response_time, "p95_response_time": p.p95_response_time,
                    "cache_memory_mb": p.cache_memory_mb})
    return out


def metrics_report(hours: float, window: Window, m: Measurements, trend: Sequence[Measurements],
                   status: Status, active: Sequence[Alert], memory: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "time_window_hours": hours,
        "window": {"start": iso(window.old.timestamp), "end": iso(window.new.timestamp),
                   "covered_seconds": round(window.seconds, 3),
                   "note": "covered_seconds is shorter than the window when the service is younger"},
        "units": UNITS,
        "request_metrics": {
            "total_requests": m.requests, "error_requests": m.errors, "error_rate": m.error_rate,
            "requests_per_second": m.requests_per_second, "avg_response_time": m.avg_response_time,
            "p50_response_time": m.p50_response_time, "p95_response_time": m.p95_response_time,
            "p99_response_time": m.p99_response_time, "by_route": by_route(window),
        },
        "cache_metrics": {**cache_stats(m), "memory_usage": dict(memory),
                          "performance_trends": trend_points(trend, window.new.timestamp)},
        "ai_metrics": ai_metrics(m),
        "redis_metrics": redis_metrics(m),
        "resilience_metrics": {"retries": m.retries, "circuit_breakers": m.breaker_states,
                               "open_circuit_breakers": m.open_breakers},
        "system_health": system_health(m, status, active),
    }
