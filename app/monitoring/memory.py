"""Memory over time and what holds it: the process, the cache tiers, and the monitoring itself.

Trends read the gauges the snapshot history keeps (``process.memory.usage``, ``llm_obs.cache.memory.usage``,
``llm_obs.memory.limit``), so they reach as far back as the history does, at its thinned resolution. A
growth rate is the least-squares slope over every kept point; a projection is where that slope meets a
limit, ``null`` when memory is not growing (at this rate it never gets there).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.monitoring.measurements import Measurements
from app.monitoring.reports import UNITS, iso, memory_usage
from instrumentation.instruments import CACHE_MEMORY, MEMORY_LIMIT, PROCESS_MEMORY
from instrumentation.reader import DEFAULT_TIERS
from instrumentation.snapshot import Snapshot

Trend = Literal["growing", "stable", "shrinking", "insufficient_data"]

# Fewer points, or a shorter span, and the allocator's jitter is all a slope would show.
MIN_POINTS = 3
MIN_SPAN_SECONDS = 600.0
# Growth under 1 % of the limit a day takes over three months to matter: call it stable.
STABLE_PERCENT_OF_LIMIT_PER_DAY = 1.0
MAX_POINTS = 120  # points in the answer; the slope uses all of them


@dataclass(frozen=True, slots=True)
class MemoryPoint:
    timestamp: float
    process_mb: float
    cache_mb: float
    limit_mb: float


def _gauge_mb(snapshot: Snapshot, name: str) -> float:
    return sum(snapshot.series(name).values()) / 1e6


def memory_points(snapshots: Sequence[Snapshot]) -> list[MemoryPoint]:
    """One point per snapshot that carries the process gauge, oldest first."""
    return [MemoryPoint(s.timestamp, _gauge_mb(s, PROCESS_MEMORY), _gauge_mb(s, CACHE_MEMORY),
                        _gauge_mb(s, MEMORY_LIMIT))
            for s in snapshots if s.series(PROCESS_MEMORY)]


def growth_per_hour(times: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope in units per hour; 0.0 when there is no slope to fit."""
    if len(times) < 2 or min(times) == max(times):
        return 0.0
    slope, _intercept = statistics.linear_regression([t / 3600.0 for t in times], values)
    return slope


def projection(current: float, slope_per_hour: float, limit: float, now: float) -> dict[str, Any]:
    if limit <= 0:
        return {"limit_mb": limit, "hours_to_limit": None, "reached_at": None}
    if current >= limit:
        return {"limit_mb": round(limit, 3), "hours_to_limit": 0.0, "reached_at": iso(now)}
    if slope_per_hour <= 0:
        return {"limit_mb": round(limit, 3), "hours_to_limit": None, "reached_at": None}
    hours = (limit - current) / slope_per_hour
    return {"limit_mb": round(limit, 3), "hours_to_limit": round(hours, 2),
            "reached_at": iso(now + hours * 3600) if hours < 1e6 else None}


def series_trend(times: Sequence[float], values: Sequence[float], limits: Mapping[str, float],
                 reference_limit: float) -> dict[str, Any]:
    """Current, range, growth and projections of one memory series against its limits."""
    span = (times[-1] - times[0]) if times else 0.0
    enough = len(times) >= MIN_POINTS and span >= MIN_SPAN_SECONDS
    # Without enough history a slope is noise: report none rather than a projection built on it.
    slope = growth_per_hour(times, values) if enough else 0.0
    per_day = 100.0 * slope * 24 / reference_limit if reference_limit > 0 else 0.0
    trend: Trend
    if not enough:
        trend = "insufficient_data"
    elif abs(per_day) < STABLE_PERCENT_OF_LIMIT_PER_DAY:
        trend = "stable"
    else:
        trend = "growing" if slope > 0 else "shrinking"
    current = values[-1] if values else 0.0
    now = times[-1] if times else 0.0
    return {
        "current_mb": round(current, 4),
        "min_mb": round(min(values), 4) if values else 0.0,
        "max_mb": round(max(values), 4) if values else 0.0,
        "growth_mb_per_hour": round(slope, 4),
        "growth_percent_of_limit_per_day": round(per_day, 4),
        "trend": trend,
        "projections": {name: projection(current, slope, limit, now) for name, limit in limits.items()},
    }


def thin_points(points: Sequence[MemoryPoint], keep: int = MAX_POINTS) -> list[MemoryPoint]:
    """Evenly spaced points, always keeping the newest."""
    if len(points) <= keep:
        return list(points)
    step = len(points) / keep
    chosen = [points[math.floor(i * step)] for i in range(keep - 1)]
    return [*chosen, points[-1]]


def memory_trends(points: Sequence[MemoryPoint], days: float, process_warning_percent: float,
                  cache_limits: Mapping[str, float]) -> dict[str, Any]:
    """``GET memory-trends``: process and cache memory over the window, growth rate, projections."""
    times = [p.timestamp for p in points]
    limit = points[-1].limit_mb if points else 0.0
    process = series_trend(times, [p.process_mb for p in points],
                           {"memory_warning": limit * process_warning_percent / 100, "memory_limit": limit}, limit)
    cache = series_trend(times, [p.cache_mb for p in points], cache_limits, cache_limits.get("max", 0.0))
    covered = (times[-1] - times[0]) / 3600 if times else 0.0
    return {
        "days": days,
        "window": {"start": iso(times[0]) if times else None, "end": iso(times[-1]) if times else None,
                   "covered_hours": round(covered, 3),
                   "note": "covered_hours is shorter than the window when the service or its history is younger"},
        "units": UNITS,
        "points_measured": len(points),
        "process": {**process, "limit_mb": round(limit, 3), "warning_percent": process_warning_percent},
        "cache": cache,
        "summary": _summary(process, cache, len(points), covered * 3600),
        "points": [{"timestamp": iso(p.timestamp), "process_mb": round(p.process_mb, 3),
                    "cache_mb": round(p.cache_mb, 4),
                    "process_percent": round(100 * p.process_mb / p.limit_mb, 3) if p.limit_mb else 0.0}
                   for p in thin_points(points)],
    }


def _summary(process: Mapping[str, Any], cache: Mapping[str, Any], points: int, covered_s: float) -> str:
    if process["trend"] == "insufficient_data":
        return (f"not enough history for a trend: {points} points over {covered_s:.0f} s, a trend needs "
                f"{MIN_POINTS} over {MIN_SPAN_SECONDS:.0f} s; process memory is {process['current_mb']} MB")
    parts = []
    for name, series, limit in (("process memory", process, "memory_limit"), ("cache memory", cache, "max")):
        text = f"{name} {series['current_mb']} MB, {series['trend']} ({series['growth_mb_per_hour']:+g} MB/h)"
        hours = series["projections"].get(limit, {}).get("hours_to_limit")
        if series["trend"] == "growing" and hours is not None:
            text += f", reaches its limit in {hours:g} h at this rate"
        parts.append(text)
    return "; ".join(parts)


def max_snapshots(interval_s: float, retention_s: float,
                  tiers: Sequence[tuple[float, float]] = DEFAULT_TIERS) -> int:
    """The most snapshots the thinned history can hold, whatever the uptime."""
    total, start = 0, 0.0
    for max_age, resolution in tiers:
        end = min(max_age, retention_s)
        if end <= start:
            break
        # a tier cannot keep snapshots more often than they are taken
        total += math.ceil((end - start) / max(resolution, interval_s)) + 1
        start = end
    return total


@dataclass(frozen=True)
class MonitoringFootprint:
    """What the monitoring itself holds in memory."""

    snapshots: int
    history_bytes: int
    series: int  # series in the newest snapshot: what each further snapshot costs
    interval_s: float
    retention_s: float
    oldest: float | None
    newest: float | None
    alerts_active: int
    alerts_resolved: int
    alerts_resolved_limit: int


def memory_stats(m: Measurements, cache_tiers: Mapping[str, Any], cache_max_bytes: int, warning_mb: float,
                 critical_mb: float, process_warning_percent: float, mon: MonitoringFootprint) -> dict[str, Any]:
    """``GET memory-stats``: process, cache tiers and the monitoring's own footprint."""
    bound = max_snapshots(mon.interval_s, mon.retention_s)
    per_snapshot = mon.history_bytes / mon.snapshots if mon.snapshots else 0.0
    history_mb = mon.history_bytes / 1e6
    share = 100 * history_mb / m.process_memory_mb if m.process_memory_mb else 0.0
    process_status = "warning" if m.memory_usage_percent > process_warning_percent else "ok"
    notes = [f"the history is bounded: at most about {bound} snapshots "
             f"(~{bound * per_snapshot / 1e6:.3f} MB at the current {mon.series} series), whatever the uptime"]
    if share > 10:
        notes.append(f"the history holds {share:.1f}% of the process memory: lower "
                     "CACHE_MONITORING_RETENTION_HOURS or raise METRICS_EXPORT_INTERVAL")
    if process_status != "ok":
        notes.append(f"process memory is {m.memory_usage_percent}% of its limit "
                     f"(threshold {process_warning_percent:g}%)")
    return {
        "units": UNITS,
        "process": {"rss_mb": m.process_memory_mb, "limit_mb": m.memory_limit_mb,
                    "usage_percent": m.memory_usage_percent, "warning_percent": process_warning_percent,
                    "status": process_status},
        "cache": {"memory_usage": memory_usage(m, cache_max_bytes, warning_mb, critical_mb),
                  "tiers": dict(cache_tiers)},
        "monitoring": {
            "memory_mb": round(history_mb, 4),
            "share_of_process_percent": round(share, 3),
            "history": {
                "snapshots": mon.snapshots, "memory_mb": round(history_mb, 4),
                "bytes_per_snapshot": round(per_snapshot, 1), "series_per_snapshot": mon.series,
                "max_snapshots": bound, "projected_max_mb": round(bound * per_snapshot / 1e6, 4),
                "retention_hours": round(mon.retention_s / 3600, 3), "interval_seconds": mon.interval_s,
                "oldest": iso(mon.oldest) if mon.oldest else None, "newest": iso(mon.newest) if mon.newest else None,
            },
            "alerts": {"active": mon.alerts_active, "resolved_kept": mon.alerts_resolved,
                       "resolved_limit": mon.alerts_resolved_limit},
        },
        "notes": notes,
    }
