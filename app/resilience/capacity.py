"""Capacity: measured AI throughput and latency against the concurrency limit, what the limiter saw
(peak in flight, calls that waited for a slot, calls refused), and breaker thresholds against the
failure rates the breakers saw, with what to do about it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from app.monitoring.measurements import percent
from app.monitoring.reports import UNITS
from app.monitoring.windows import Window, quantile
from app.resilience.presets import ResiliencePolicy
from app.resilience.reports import NAME, BreakerView, figures, to_state
from instrumentation.instruments import BREAKER_TRANSITIONS, GENAI_DURATION, LLM_AT_ADMISSION, LLM_QUEUE_WAIT
from instrumentation.snapshot import HistogramPoint

# Capacity: what "close to the limit" and "opens on chance alone" mean.
UTILIZATION_WARNING = 80.0  # % of the concurrency limit
CHANCE_OPEN_WARNING = 1.0  # % chance per call that a run of failures reaches the threshold
RETRIES_PER_CALL_WARNING = 0.2


def capacity_analysis(window: Window, slices: Sequence[Window], max_concurrency: int,
                      breakers: Mapping[str, BreakerView], policy: ResiliencePolicy, ai_p95_kpi_ms: float,
                      hours: float) -> dict[str, Any]:
    """Throughput and latency against the concurrency limit, and breaker thresholds against the failure
    rates the breakers saw. The average in flight is Little's law (busy seconds / elapsed seconds, the
    duration histogram's sum over the window); the peak is the limiter's own count at each admission,
    which an average over slices would both smear and, at a slice's edges, overstate."""
    row = figures(window)
    seconds = window.seconds
    ai = window.histogram(GENAI_DURATION)
    rate = round(row["ai_calls"] / seconds, 4) if seconds > 0 else 0.0
    in_flight = round(ai.sum / seconds, 4) if ai is not None and seconds > 0 else 0.0
    peak_rate = rate
    for w in slices:
        h = w.histogram(GENAI_DURATION)
        if h is not None and w.seconds > 0:
            peak_rate = max(peak_rate, round(h.count / w.seconds, 4))
    admitted = window.histogram(LLM_AT_ADMISSION)
    peak_in_flight = highest_value(admitted, max_concurrency)
    waits = window.histogram(LLM_QUEUE_WAIT)
    refusals = window.histogram(LLM_QUEUE_WAIT, lambda a: a.get("llm_obs.llm.queue.outcome") == "rejected")
    rejected = refusals.count if refusals is not None else 0
    utilization = percent(peak_in_flight, max_concurrency)
    avg_s = row["ai_avg_ms"] / 1000.0
    sustainable = round(max_concurrency / avg_s, 4) if avg_s > 0 else 0.0
    opens = window.counter_by(BREAKER_TRANSITIONS, NAME, to_state("open"))
    judged = {name: _breaker_capacity(b, int(opens.get(name, 0))) for name, b in breakers.items()}
    recommendations = _recommendations(row, peak_in_flight, utilization, max_concurrency, rejected,
                                       ai_p95_kpi_ms, judged, hours)
    return {
        "time_window_hours": hours, "covered_seconds": round(seconds, 3), "units": UNITS, "preset": policy.name,
        "throughput": {"ai_calls": row["ai_calls"], "ai_calls_per_second": rate,
                       "peak_ai_calls_per_second": peak_rate,
                       "max_sustainable_ai_calls_per_second": sustainable,
                       "headroom_ai_calls_per_second": round(max(0.0, sustainable - peak_rate), 4)},
        "latency": {"ai_avg_ms": row["ai_avg_ms"], "ai_p50_ms": row["ai_p50_ms"], "ai_p95_ms": row["ai_p95_ms"],
                    "ai_p95_kpi_ms": ai_p95_kpi_ms},
        "concurrency": {"limit": max_concurrency, "average_in_flight": in_flight, "peak_in_flight": peak_in_flight,
                        "peak_utilization_percent": utilization,
                        "headroom_percent": round(max(0.0, 100.0 - utilization), 3),
                        "calls_admitted": admitted.count if admitted is not None else 0,
                        "calls_waited": waits.count if waits is not None else 0, "calls_rejected": rejected,
                        "wait_p95_ms": round(1000.0 * quantile(0.95, waits), 3)},
        "retries": {"max_attempts": policy.max_attempts, "retries": row["retries"],
                    "retries_per_call": row["retries_per_call"]},
        "circuit_breakers": judged,
        "recommendations": recommendations,
    }


def highest_value(point: HistogramPoint | None, limit: int) -> int:
    """The highest value a window recorded, from its highest non-empty bucket: exact where buckets are
    one wide, else that bucket's upper edge; never past ``limit``, which bounds every value recorded."""
    if point is not None:
        for index in range(len(point.counts) - 1, -1, -1):
            if point.counts[index] > 0:
                upper = point.bounds[index] if index < len(point.bounds) else math.inf
                return int(min(upper, limit))
    return 0


def _breaker_capacity(view: BreakerView, opens: int) -> dict[str, Any]:
    counts = view["metrics"]
    done = counts["successes"] + counts["failures"]
    p = counts["failures"] / done if done else 0.0
    threshold = int(view["failure_threshold"])
    return {"state": view["state"], "failure_threshold": threshold, "recovery_timeout": view["recovery_timeout"],
            "attempts_since_start": done, "observed_failure_rate": percent(counts["failures"], done),
            # the chance that a given call ends a run of `threshold` failures, were failures independent
            "chance_of_opening_per_call_percent": round(100.0 * p**threshold, 4),
            "opens_in_window": opens}


def _recommendations(row: Mapping[str, Any], peak_in_flight: int, utilization: float, limit: int, rejected: int,
                     ai_p95_kpi_ms: float, breakers: Mapping[str, Mapping[str, Any]], hours: float) -> list[str]:
    out: list[str] = []
    if row["ai_calls"] == 0 and not rejected:
        out.append(f"No AI calls in the last {hours:g} h: throughput and latency cannot be judged yet.")
    if rejected:
        out.append(f"{rejected} AI calls were refused (503) after LLM_QUEUE_TIMEOUT_SECONDS with all {limit} "
                   "slots taken: raise LLM_MAX_CONCURRENCY if the provider allows more parallel calls, "
                   "or add instances.")
    elif utilization >= UTILIZATION_WARNING:
        out.append(f"Peak {peak_in_flight:g} AI calls in flight of a limit of {limit} ({utilization:g}%): "
                   "raise LLM_MAX_CONCURRENCY or add instances.")
    if row["ai_p95_ms"] > ai_p95_kpi_ms:
        out.append(f"AI P95 {row['ai_p95_ms']:g} ms is over the {ai_p95_kpi_ms:g} ms KPI: check the provider, "
                   "or lower LLM_TIMEOUT_SECONDS so slow calls fail over sooner.")
    for name, b in breakers.items():
        if b["chance_of_opening_per_call_percent"] >= CHANCE_OPEN_WARNING:
            chance = b["chance_of_opening_per_call_percent"]
            out.append(f"Breaker '{name}' sees {b['observed_failure_rate']:g}% failures: with a threshold of "
                       f"{b['failure_threshold']} it opens on chance alone ({chance:g}% per call); "
                       "fix the failures or raise its failure_threshold.")
    if row["retries_per_call"] > RETRIES_PER_CALL_WARNING:
        out.append(f"{row['retries_per_call']:g} retries per AI call: the provider is flaky and retries multiply "
                   "its load; consider the conservative preset's longer backoff.")
    if not out:
        out.append(f"Capacity sufficient: peak {peak_in_flight:g} of {limit} AI calls in flight "
                   f"({utilization:g}%), AI P95 {row['ai_p95_ms']:g} ms within the {ai_p95_kpi_ms:g} ms KPI.")
    return out
