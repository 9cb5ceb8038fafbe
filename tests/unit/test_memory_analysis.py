"""Memory trends from the history's gauges, projections to the limits, and the monitoring's own bound."""

from __future__ import annotations

import pytest

from app.monitoring.measurements import measure
from app.monitoring.memory import (
    MemoryPoint,
    MonitoringFootprint,
    growth_per_hour,
    max_snapshots,
    memory_points,
    memory_stats,
    memory_trends,
)
from app.monitoring.windows import Window
from instrumentation.instruments import CACHE_MEMORY, MEMORY_LIMIT, PROCESS_MEMORY
from instrumentation.reader import thin
from instrumentation.snapshot import Snapshot

HOUR = 3600.0
CACHE_LIMITS = {"warning": 50.0, "critical": 100.0, "max": 200.0}


def gauges(ts: float, process_mb: float, cache_mb: float, limit_mb: float = 1000.0) -> Snapshot:
    tier = (("llm_obs.cache.tier", "memory"),)
    return Snapshot(ts, {(PROCESS_MEMORY, ()): process_mb * 1e6, (CACHE_MEMORY, tier): cache_mb * 1e6,
                         (MEMORY_LIMIT, ()): limit_mb * 1e6})


def test_points_read_the_gauges_and_skip_snapshots_without_them() -> None:
    points = memory_points([Snapshot(0.0), gauges(60.0, 120.0, 4.0)])
    assert points == [MemoryPoint(60.0, 120.0, 4.0, 1000.0)]


def test_growth_is_the_least_squares_slope_per_hour() -> None:
    times = [i * 600.0 for i in range(7)]  # one hour in 10-minute steps
    assert growth_per_hour(times, [100 + 10 * t / HOUR for t in times]) == pytest.approx(10.0)
    assert growth_per_hour([0.0], [5.0]) == 0.0


def test_a_leak_is_growing_and_projected_to_the_limit() -> None:
    # 100 MB growing 20 MB/h against a 1000 MB limit: 80 % (800 MB) in 35 h, the limit in 45 h
    points = memory_points([gauges(i * 600.0, 100 + 20 * i / 6, 10.0) for i in range(13)])
    answer = memory_trends(points, 7, 80.0, CACHE_LIMITS)

    process = answer["process"]
    assert process["trend"] == "growing"
    assert process["growth_mb_per_hour"] == pytest.approx(20.0)
    assert process["current_mb"] == pytest.approx(140.0)
    assert process["projections"]["memory_warning"]["hours_to_limit"] == pytest.approx(33.0)
    assert process["projections"]["memory_limit"]["hours_to_limit"] == pytest.approx(43.0)
    assert answer["cache"]["trend"] == "stable"
    assert answer["cache"]["projections"]["warning"]["hours_to_limit"] is None  # not growing: never
    assert "reaches its limit in 43 h" in answer["summary"]
    assert answer["points_measured"] == 13 and answer["window"]["covered_hours"] == 2.0


def test_flat_memory_is_stable_and_shrinking_memory_is_shrinking() -> None:
    flat = memory_points([gauges(i * 600.0, 100.0 + (i % 2) * 0.1, 0.0) for i in range(13)])
    assert memory_trends(flat, 1, 80.0, CACHE_LIMITS)["process"]["trend"] == "stable"
    falling = memory_points([gauges(i * 600.0, 500.0 - 10 * i, 0.0) for i in range(13)])
    assert memory_trends(falling, 1, 80.0, CACHE_LIMITS)["process"]["trend"] == "shrinking"


def test_too_little_history_gives_no_slope_and_says_so() -> None:
    points = memory_points([gauges(0.0, 100.0, 0.0), gauges(1.0, 180.0, 0.0)])
    answer = memory_trends(points, 7, 80.0, CACHE_LIMITS)
    assert answer["process"]["trend"] == "insufficient_data"
    assert answer["process"]["growth_mb_per_hour"] == 0.0
    assert answer["process"]["projections"]["memory_limit"]["hours_to_limit"] is None
    assert answer["summary"].startswith("not enough history")


def test_cache_over_its_threshold_is_reached_now() -> None:
    points = memory_points([gauges(i * 600.0, 100.0, 60.0) for i in range(4)])
    assert memory_trends(points, 1, 80.0, CACHE_LIMITS)["cache"]["projections"]["warning"]["hours_to_limit"] == 0.0


def test_answer_points_are_bounded_and_keep_the_newest() -> None:
    points = memory_points([gauges(i * 60.0, 100.0, 0.0) for i in range(1000)])
    shown = memory_trends(points, 7, 80.0, CACHE_LIMITS)["points"]
    assert len(shown) == 120
    assert shown[-1]["timestamp"].startswith("1970-01-01T16:39")  # 999 minutes


@pytest.mark.parametrize(("interval", "retention_hours"), [(600.0, 168), (300.0, 2), (600.0, 30)])
def test_the_history_never_holds_more_than_the_bound(interval: float, retention_hours: int) -> None:
    retention = retention_hours * HOUR
    bound = max_snapshots(interval, retention)
    kept: list[Snapshot] = []
    most = 0
    start = 1_700_000_000.0
    for i in range(int((retention + 2 * HOUR) / interval)):  # run past the retention
        now = start + i * interval
        kept = thin([*kept, Snapshot(now)], now, retention)
        most = max(most, len(kept))
    assert most <= bound
    assert most >= bound - 4  # and the bound is not loose


def test_memory_stats_reports_the_monitoring_footprint() -> None:
    m = measure(Window(Snapshot(0.0), gauges(60.0, 200.0, 12.0)))
    footprint = MonitoringFootprint(snapshots=100, history_bytes=3_000_000, series=40, interval_s=60.0,
                                    retention_s=168 * HOUR, oldest=0.0, newest=60.0, alerts_active=2,
                                    alerts_resolved=7, alerts_resolved_limit=1000)
    answer = memory_stats(m, {"memory": {"entries": 3}}, 50_000_000, 50.0, 100.0, 80.0, footprint)

    assert answer["process"] == {"rss_mb": 200.0, "limit_mb": 1000.0, "usage_percent": 20.0,
                                 "warning_percent": 80.0, "status": "ok"}
    history = answer["monitoring"]["history"]
    assert history["memory_mb"] == 3.0 and history["bytes_per_snapshot"] == 30_000.0
    assert history["max_snapshots"] == max_snapshots(60.0, 168 * HOUR)
    assert history["projected_max_mb"] == pytest.approx(history["max_snapshots"] * 0.03)
    assert answer["monitoring"]["share_of_process_percent"] == 1.5
    assert answer["monitoring"]["alerts"] == {"active": 2, "resolved_kept": 7, "resolved_limit": 1000}
    assert answer["cache"]["memory_usage"]["memory_mb"] == 12.0


def test_memory_stats_says_when_the_history_is_a_large_share() -> None:
    m = measure(Window(Snapshot(0.0), gauges(60.0, 100.0, 0.0)))
    footprint = MonitoringFootprint(10, 20_000_000, 40, 60.0, 168 * HOUR, 0.0, 60.0, 0, 0, 1000)
    notes = memory_stats(m, {}, 50_000_000, 50.0, 100.0, 80.0, footprint)["notes"]
    assert any("CACHE_MONITORING_RETENTION_HOURS" in n for n in notes)
