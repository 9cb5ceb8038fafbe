"""Are we back? Verdicts over evidence: recovery over recent slices, post-recovery and post-maintenance
checks, and whether the monitoring itself is collecting.

Every check carries its evidence (the measured value and the threshold it was held to), so an operator
can see why it passed, not just that it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from app.monitoring.alerts import Alert
from app.monitoring.measurements import Measurements
from app.monitoring.reports import UNITS, iso, trend_points

Recovery = Literal["stable", "recovered", "recovering", "degrading"]
# A snapshot older than two intervals (and a little slack for a slow collection) means the thread stalled.
STALE_INTERVALS = 2.0
STALE_SLACK_S = 5.0


def check(name: str, passed: bool, message: str, **evidence: Any) -> dict[str, Any]:
    return {"name": name, "passed": passed, "message": message, "evidence": evidence}


def liveness_check(loop_lag_ms: float, threshold_ms: float, uptime_s: float) -> dict[str, Any]:
    ok = loop_lag_ms <= threshold_ms
    return check("liveness", ok, "the service answers" + ("" if ok else ", but its event loop is slow"),
                 value=round(loop_lag_ms, 3), threshold=threshold_ms, unit="ms", uptime_seconds=round(uptime_s, 3))


def redis_check(enabled: bool, latency_ms: float | None, status: Mapping[str, Any]) -> dict[str, Any]:
    if not enabled:
        return check("redis_reachable", True, "Redis disabled by configuration; the memory tier serves",
                     value="disabled", threshold="reachable")
    ok = latency_ms is not None
    return check("redis_reachable", ok, "Redis answers PING" if ok else "Redis does not answer PING",
                 value=round(latency_ms, 3) if ok and latency_ms is not None else "unreachable",
                 threshold="reachable", unit="ms", last_error=status.get("last_error"))


def breakers_check(states: Mapping[str, str]) -> dict[str, Any]:
    not_closed = {n: s for n, s in sorted(states.items()) if s != "closed"}
    return check("circuit_breakers_closed", not not_closed,
                 "all circuit breakers closed" if not not_closed else f"not closed: {', '.join(not_closed)}",
                 value=len(not_closed), threshold=0, unit="breakers", not_closed=not_closed)


def error_rate_check(m: Measurements, threshold: float) -> dict[str, Any]:
    ok = m.error_rate <= threshold
    message = (f"{m.errors} of {m.requests} API requests failed" if m.requests
               else "no API requests in the window")
    return check("error_rate", ok, message, value=m.error_rate, threshold=threshold, unit="%",
                 requests=m.requests, window_seconds=m.window_seconds)


def critical_alerts_check(active: Sequence[Alert]) -> dict[str, Any]:
    critical = [a.name for a in active if a.severity == "critical"]
    return check("no_critical_alerts", not critical,
                 "no critical alert firing" if not critical else f"firing: {', '.join(critical)}",
                 value=len(critical), threshold=0, unit="alerts", firing=critical)


def telemetry_check(exports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if not exports:
        return check("telemetry_export", True, "OTLP export disabled", value="disabled",
                     threshold="healthy or disabled")
    failing = [e["signal"] for e in exports if e["healthy"] is False]
    return check("telemetry_export", not failing,
                 "OTLP export healthy" if not failing else f"OTLP export failing for {', '.join(failing)}",
                 value="failing" if failing else "healthy", threshold="healthy or disabled",
                 exporters={e["signal"]: {"healthy": e["healthy"], "last_error": e["last_error"]} for e in exports})


def cache_check(round_trip_ok: bool, redis_available: bool, m: Measurements) -> dict[str, Any]:
    tiers = "memory+redis" if redis_available else "memory"
    return check("cache_serving", round_trip_ok,
                 f"the cache stores and returns a value ({tiers} serving)" if round_trip_ok
                 else "the memory tier did not return what was stored",
                 value="round trip ok" if round_trip_ok else "round trip failed", threshold="round trip ok",
                 serving_tiers=tiers, hit_ratio=m.hit_ratio, lookups=m.cache_lookups)


def checks_report(kind: str, checks: Sequence[dict[str, Any]], now: float, **context: Any) -> dict[str, Any]:
    failed = [c["name"] for c in checks if not c["passed"]]
    return {
        "check": kind, "timestamp": iso(now), "passed": not failed, "verdict": "fail" if failed else "pass",
        "summary": (f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}" if failed
                    else f"all {len(checks)} checks passed"),
        "failed": failed, "checks": list(checks), **context,
    }


def _slice_healthy(m: Measurements, error_threshold: float, p95_threshold: float) -> bool:
    return m.error_rate <= error_threshold and m.p95_response_time <= p95_threshold and not m.open_breakers


def _excess(m: Measurements, error_threshold: float, p95_threshold: float) -> float:
    """How far past its thresholds a slice's requests are (0 when within them)."""
    return max(m.error_rate / error_threshold, m.p95_response_time / p95_threshold, 1.0) - 1.0


def _better(now: Measurements, before: Measurements, error_threshold: float, p95_threshold: float) -> bool:
    if now.open_breaker_count != before.open_breaker_count:
        return now.open_breaker_count < before.open_breaker_count
    if not now.requests or not before.requests:
        return False  # a slice without traffic shows no improvement, only an absence of evidence
    return _excess(now, error_threshold, p95_threshold) < _excess(before, error_threshold, p95_threshold)


def recovery_verdict(slices: Sequence[Measurements], error_threshold: float, p95_threshold: float) -> Recovery:
    """Stable: no slice breached. Recovered: the newest is within thresholds after one that was not.
    Recovering: still breaching, but better than the slice before (fewer open breakers, else requests
    less far past their thresholds). Degrading: breaching, and no better."""
    healthy = [_slice_healthy(m, error_threshold, p95_threshold) for m in slices]
    if all(healthy):
        return "stable"
    if healthy[-1]:
        return "recovered"
    if len(slices) >= 2 and _better(slices[-1], slices[-2], error_threshold, p95_threshold):
        return "recovering"
    return "degrading"


def recovery_report(slices: Sequence[Measurements], window_end: float, minutes: float, error_threshold: float,
                    p95_threshold: float, breakers_now: Mapping[str, str]) -> dict[str, Any]:
    """``GET recovery-metrics``: error rate, latency and breaker states per slice, and the verdict."""
    verdict = recovery_verdict(slices, error_threshold, p95_threshold) if slices else "stable"
    # The breakers' live state is newer than the newest slice: a breaker that opened since is an outage
    # the slices have not seen yet, a half-open one a recovery in progress.
    if verdict in ("stable", "recovered"):
        if "open" in breakers_now.values():
            verdict = "degrading"
        elif "half_open" in breakers_now.values():
            verdict = "recovering"
    points = [{**p, "p99_response_time": m.p99_response_time, "open_circuit_breakers": m.open_breakers,
               "healthy": _slice_healthy(m, error_threshold, p95_threshold)}
              for p, m in zip(trend_points(slices, window_end), slices, strict=True)]
    unhealthy = [p for p in points if not p["healthy"]]
    return {
        "verdict": verdict,
        "minutes": minutes,
        "units": UNITS,
        "thresholds": {"error_rate": error_threshold, "p95_response_time": p95_threshold, "open_breakers": 0},
        "current": points[-1] if points else None,
        "circuit_breakers": dict(breakers_now),
        "unhealthy_slices": len(unhealthy),
        "last_unhealthy": unhealthy[-1]["end"] if unhealthy else None,
        "slices": points,
        "note": "slices follow the history's resolution; no slices until a second snapshot is kept",
    }


def monitoring_status(enabled: bool, running: bool, snapshots: int, newest: float | None, now: float,
                      interval_s: float, retention_s: float, last_error: str | None,
                      exports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``GET status``: is the monitoring collecting, and if not, why."""
    age = round(now - newest, 3) if newest is not None else None
    stale = age is None or age > STALE_INTERVALS * interval_s + STALE_SLACK_S
    problems = []
    if not enabled:
        problems.append("ENABLE_MONITORING=false: the history thread is not started")
    elif not running:
        problems.append("the history thread is not running")
    if enabled and stale:
        problems.append("no snapshot kept yet" if age is None else
                        f"the newest snapshot is {age:g} s old, the interval is {interval_s:g} s")
    if last_error:
        problems.append(f"the last collection failed: {last_error}")
    failing = [e["signal"] for e in exports if e["healthy"] is False]
    if failing:
        problems.append(f"OTLP export failing for {', '.join(failing)} (the runbook endpoints are unaffected)")
    collecting = enabled and running and not stale and not last_error
    return {
        "collecting": collecting,
        "status": "collecting" if collecting else ("disabled" if not enabled else "stalled"),
        "enable_monitoring": enabled,
        "history": {"thread_alive": running, "snapshots": snapshots, "interval_seconds": interval_s,
                    "retention_hours": round(retention_s / 3600, 3),
                    "last_snapshot_at": iso(newest) if newest is not None else None,
                    "last_snapshot_age_seconds": age, "last_error": last_error},
        "export": {"enabled": bool(exports), "exporters": [dict(e) for e in exports]},
        "problems": problems,
    }
