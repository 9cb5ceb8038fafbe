"""The JSON answers of /internal/resilience, as pure functions of breaker state, the change log and
windows over the OpenTelemetry snapshots.

Counts come from the breakers (``CircuitBreaker.as_dict()``) and from the instruments
(``llm_obs.retry.attempts``, ``llm_obs.circuit_breaker.transitions``, ``gen_ai.client.operation.duration``,
``llm_obs.cache.lookups``); nothing here keeps a tally of its own. Units as ``app.monitoring.reports.UNITS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.monitoring.health import breakers_health
from app.monitoring.measurements import measure, percent, to_ms
from app.monitoring.reports import UNITS, iso
from app.monitoring.windows import AttrFilter, Window, quantile
from app.resilience.presets import PRESETS, ResiliencePolicy
from app.resilience.timeline import Period, preset_time
from instrumentation.instruments import BREAKER_TRANSITIONS, CACHE_LOOKUPS, GENAI_DURATION, RETRY_ATTEMPTS

BreakerView = Mapping[str, Any]  # CircuitBreaker.as_dict()
NAME, TO, OPERATION = "llm_obs.circuit_breaker.name", "llm_obs.circuit_breaker.to", "llm_obs.operation"
TRANSITION_FIELDS = {"open": "circuit_breaker_opens", "half_open": "circuit_breaker_half_opens",
                     "closed": "circuit_breaker_closes"}
# A trend moves when the later half of the window differs from the earlier half by more than this.
ERROR_RATE_STEP = 1.0  # percentage points
LATENCY_STEP = 1.2  # ratio of AI P95
RETRY_STEP = 0.1  # retries per AI call
# (what, figure, step, step is a ratio): each is worse when it goes up
_SIGNALS = (("AI failure rate %", "failure_rate", ERROR_RATE_STEP, False),
            ("AI P95 ms", "ai_p95_ms", LATENCY_STEP, True), ("retries per call", "retries_per_call", RETRY_STEP, False),
            ("breaker opens", "circuit_breaker_opens", 0, False))


def to_state(state: str) -> AttrFilter:
    return lambda attrs: attrs.get(TO) == state


def _states(breakers: Mapping[str, BreakerView]) -> dict[str, str]:
    return {name: str(b["state"]) for name, b in breakers.items()}


def _iso_or_none(ts: float | None) -> str | None:
    return iso(ts) if ts is not None else None


# -- figures of one window -------------------------------------------------------------------------

def figures(window: Window) -> dict[str, Any]:
    """AI calls, failures, retries, latency and breaker moves in one window: the row every report uses."""
    m = measure(window)
    successes = m.ai_calls - m.ai_errors
    return {
        "ai_calls": m.ai_calls, "successful_calls": successes, "failed_calls": m.ai_errors,
        "success_rate": percent(successes, m.ai_calls), "failure_rate": percent(m.ai_errors, m.ai_calls),
        "retries": m.retries, "retries_per_call": round(m.retries / m.ai_calls, 3) if m.ai_calls else 0.0,
        "ai_p50_ms": to_ms(quantile(0.5, window.histogram(GENAI_DURATION))), "ai_p95_ms": m.ai_p95_ms,
        "ai_avg_ms": m.ai_avg_ms,
        "circuit_breaker_opens": int(window.counter(BREAKER_TRANSITIONS, to_state("open"))),
        "circuit_breaker_transitions": int(window.counter(BREAKER_TRANSITIONS)),
    }


# -- health and metrics (the template's shapes, as subsets) ----------------------------------------

def health(breakers: Mapping[str, BreakerView], operations: Sequence[str], policy: ResiliencePolicy,
           now: float) -> dict[str, Any]:
    verdict = breakers_health(_states(breakers))
    return {
        "healthy": not verdict["open"], "status": verdict["status"], "message": verdict["message"],
        "details": {"open_circuit_breakers": verdict["open"], "half_open_circuit_breakers": verdict["half_open"],
                    "total_circuit_breakers": len(breakers), "total_operations": len(operations),
                    "timestamp": iso(now)},
        "preset": policy.name, "policy": policy.as_dict(),
    }


def operations_metrics(breakers: Mapping[str, BreakerView], operations: Sequence[str],
                       lifetime: Window) -> dict[str, dict[str, Any]]:
    """Per operation since start: attempts from its breaker, retries and moves from the instruments."""
    retries = lifetime.counter_by(RETRY_ATTEMPTS, OPERATION)
    moves = {state: lifetime.counter_by(BREAKER_TRANSITIONS, NAME, to_state(state)) for state in TRANSITION_FIELDS}
    out: dict[str, dict[str, Any]] = {}
    for op in operations:
        view = breakers[op]
        counts = view["metrics"]
        done = counts["successes"] + counts["failures"]
        out[op] = {
            "total_calls": counts["calls"], "successful_calls": counts["successes"],
            "failed_calls": counts["failures"], "retry_attempts": int(retries.get(op, 0)),
            **{field: int(moves[state].get(op, 0)) for state, field in TRANSITION_FIELDS.items()},
            "success_rate": percent(counts["successes"], done), "failure_rate": percent(counts["failures"], done),
            "fail_fast_rejections": counts["rejected"],
            "last_failure": _iso_or_none(counts["last_failure"]), "last_success": _iso_or_none(counts["last_success"]),
        }
    return out


def performance_summary(window: Window, breakers: Mapping[str, BreakerView], policy: ResiliencePolicy,
                        hours: float) -> dict[str, Any]:
    row = figures(window)
    verdict = breakers_health(_states(breakers))
    return {
        "time_window_hours": hours, "covered_seconds": round(window.seconds, 3), "status": verdict["status"],
        "preset": policy.name, **row,
        # Rejections have no instrument: the breakers count them, since start.
        "fail_fast_rejections_since_start": sum(int(b["metrics"]["rejected"]) for b in breakers.values()),
        "open_circuit_breakers": verdict["open"], "half_open_circuit_breakers": verdict["half_open"],
        "note": "no AI calls in the window" if row["ai_calls"] == 0 else
        f"{row['ai_calls']} AI calls; rates are of calls in the window",
    }


def metrics_report(breakers: Mapping[str, BreakerView], operations: Sequence[str], policy: ResiliencePolicy,
                   lifetime: Window, window: Window, hours: float) -> dict[str, Any]:
    states = _states(breakers)
    return {
        "operations": operations_metrics(breakers, operations, lifetime),
        "circuit_breakers": {name: dict(b) for name, b in breakers.items()},
        "summary": {"total_operations": len(operations), "total_circuit_breakers": len(breakers),
                    "healthy_circuit_breakers": sum(1 for s in states.values() if s == "closed"),
                    "timestamp": iso(lifetime.new.timestamp), "since": iso(lifetime.old.timestamp)},
        "performance_summary": performance_summary(window, breakers, policy, hours),
        "units": UNITS,
    }


# -- trends ----------------------------------------------------------------------------------------

def trend_slices(windows: Sequence[Window]) -> list[dict[str, Any]]:
    return [{"start": iso(w.old.timestamp), "end": iso(w.new.timestamp), "seconds": round(w.seconds, 3),
             **figures(w)} for w in windows]


def direction(windows: Sequence[Window]) -> dict[str, Any]:
    """improving / stable / degrading: the later half of the window against the earlier half."""
    if len(windows) < 2:
        return {"direction": "stable", "reasons": ["one slice or none: nothing to compare yet"]}
    half = len(windows) // 2
    earlier = figures(Window(windows[0].old, windows[half].old))
    later = figures(Window(windows[half].old, windows[-1].new))
    compared = {"earlier": earlier, "later": later}
    if not earlier["ai_calls"] or not later["ai_calls"]:
        return {"direction": "stable", "reasons": ["no AI calls in one half of the window: nothing to compare"],
                **compared}
    worse: list[str] = []
    better: list[str] = []
    for what, key, step, ratio in _SIGNALS:
        before, after = earlier[key], later[key]
        if (after > before * step) if ratio else (after - before > step):
            worse.append(f"{what} up from {before} to {after}")
        elif (before > after * step) if ratio else (before - after > step):
            better.append(f"{what} down from {before} to {after}")
    verdict = "degrading" if len(worse) > len(better) else "improving" if len(better) > len(worse) else "stable"
    return {"direction": verdict, "reasons": worse + better or ["no change beyond the thresholds"], **compared}


def performance_trends(windows: Sequence[Window], hours: float) -> dict[str, Any]:
    return {"time_window_hours": hours, "units": UNITS,
            "trends": {**direction(windows), "slices": trend_slices(windows),
                       "thresholds": {"failure_rate_points": ERROR_RATE_STEP, "p95_ratio": LATENCY_STEP,
                                      "retries_per_call": RETRY_STEP}}}


# -- presets over time (periods: app.resilience.timeline) ------------------------------------------

def preset_evolution(preset: str, measured: Sequence[tuple[Period, Window]], started_at: float) -> dict[str, Any]:
    """Performance during each period ``preset`` was in force, measured over the nearest kept snapshots."""
    rows = []
    for period, window in measured:
        row = {**period.as_dict(), "measured_from": iso(window.old.timestamp),
               "measured_to": iso(window.new.timestamp), "covered_seconds": round(window.seconds, 3),
               **figures(window)}
        rows.append(row)
    calls = sum(r["ai_calls"] for r in rows)
    failed = sum(r["failed_calls"] for r in rows)
    if not rows:
        note = (f"preset '{preset}' has not been active since the service started at {iso(started_at)}: "
                f"nothing to compare. Apply it with POST /internal/resilience/config/apply-preset "
                f"-d '{{\"preset\": \"{preset}\"}}'")
    else:
        note = ("one row per period the preset was in force, oldest first; measured_from/measured_to are the "
                "kept snapshots nearest the period's edges")
    return {
        "preset": preset, "policy": PRESETS[preset].as_dict(), "currently_active": any(p.current for p, _ in measured),
        "performance_evolution": rows,
        "summary": {"periods": len(rows), "active_seconds": round(sum(r["duration_seconds"] for r in rows), 3),
                    "ai_calls": calls, "failed_calls": failed, "failure_rate": percent(failed, calls),
                    "retries": sum(r["retries"] for r in rows),
                    "circuit_breaker_opens": sum(r["circuit_breaker_opens"] for r in rows)},
        "note": note, "units": UNITS,
    }


# -- usage -----------------------------------------------------------------------------------------

def requests_by_hour(slices: Sequence[Window]) -> dict[str, int]:
    """Requests (cache lookups: every request looks the cache up first) by the UTC hour each slice ended."""
    hours: dict[str, int] = {}
    for w in slices:
        count = int(w.counter(CACHE_LOOKUPS))
        if count:
            hour = f"{datetime.fromtimestamp(w.new.timestamp, UTC).hour:02d}:00"
            hours[hour] = hours.get(hour, 0) + count
    return dict(sorted(hours.items()))


def usage_patterns(window: Window, slices: Sequence[Window], breakers: Mapping[str, BreakerView],
                   operations: Sequence[str], periods: Sequence[Period], hours: float) -> dict[str, Any]:
    requests = window.counter_by(CACHE_LOOKUPS, OPERATION)
    hits = window.counter_by(CACHE_LOOKUPS, OPERATION, lambda a: a.get("llm_obs.cache.result") == "hit")
    retries = window.counter_by(RETRY_ATTEMPTS, OPERATION)
    total = sum(requests.get(op, 0.0) for op in operations)
    per_op: dict[str, dict[str, Any]] = {}
    for op in operations:
        counts = breakers[op]["metrics"]
        per_op[op] = {
            "requests": int(requests.get(op, 0)), "share_percent": percent(requests.get(op, 0.0), total),
            "cache_hits": int(hits.get(op, 0)), "retries": int(retries.get(op, 0)),
            # per-operation AI outcomes are counted by the operation's breaker, since start
            "ai_attempts_since_start": counts["successes"] + counts["failures"],
            "failures_since_start": counts["failures"], "fail_fast_rejections_since_start": counts["rejected"],
        }
    by_hour = requests_by_hour(slices)
    peak = max(by_hour.items(), key=lambda kv: kv[1]) if by_hour else None
    busiest = max(operations, key=lambda op: requests.get(op, 0.0)) if total else "none"
    current = next((p.preset for p in periods if p.current), "unknown")
    return {
        "time_window_hours": hours, "covered_seconds": round(window.seconds, 3),
        "total_requests": int(total), "busiest_operation": busiest, "operations": per_op,
        "peak_hour": {"hour_utc": peak[0], "requests": peak[1]} if peak else
        {"hour_utc": "none", "requests": 0, "note": "no requests in the window"},
        "requests_by_hour_utc": by_hour,
        "current_preset": current,
        "presets": preset_time(periods, window.old.timestamp, window.new.timestamp),
    }


# -- the change log --------------------------------------------------------------------------------

def change_view(change: Mapping[str, Any]) -> dict[str, Any]:
    before, after = change["before"], change["after"]
    return {**change, "timestamp": iso(change["timestamp"]), "active_since": iso(change["active_since"]),
            "changed": {k: {"before": before[k], "after": after[k]} for k in after if before.get(k) != after[k]}}


def recent_changes(changes: Sequence[Mapping[str, Any]], limit: int, current: Mapping[str, Any]) -> dict[str, Any]:
    rows = [change_view(c) for c in reversed(changes)][:limit]
    return {"changes": rows, "total": len(changes), "returned": len(rows), "current": dict(current),
            "note": "newest first; POST a change's 'undo' to /internal/resilience/config/apply-preset to revert it"}
