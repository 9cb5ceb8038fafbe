"""Alert patterns and weekly trends as pure functions of alert records."""

from __future__ import annotations

from datetime import UTC, datetime

from app.monitoring.alert_store import AlertRecord
from app.monitoring.patterns import alert_patterns, firing_ms, history_report, week_start, weekly_summary

DAY = 86400.0


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def record(name: str, first_seen: float, seconds: float | None = 60.0, severity: str = "warning",
           source: str = "api", last_seen: float | None = None) -> AlertRecord:
    """Resolved after ``seconds``; still firing when ``seconds`` is None."""
    resolved = first_seen + seconds if seconds is not None else None
    return AlertRecord(f"w:{name}:{first_seen}", name, severity, source, name, "m", 1.0, 0.5, "%",
                       "resolved" if resolved is not None else "firing", first_seen,
                       last_seen if last_seen is not None else (resolved or first_seen), resolved, "w")


def test_firing_time_ends_at_resolution_or_last_seen() -> None:
    assert firing_ms(record("A", 1000.0, seconds=90)) == 90_000
    assert firing_ms(record("A", 1000.0, seconds=None, last_seen=1030.0)) == 30_000


def test_patterns_per_alert_name() -> None:
    start = ts(2025, 3, 10, 14, 5)
    records = [record("ApiErrorRateHigh", start, 60), record("ApiErrorRateHigh", start + 3600, 180),
               record("ApiErrorRateHigh", start + 7200, None, last_seen=start + 7230),
               record("CircuitBreakerOpen", start + 60, 30, "critical", "resilience")]
    patterns = alert_patterns(records)
    errors = patterns["by_name"]["ApiErrorRateHigh"]
    assert (errors["count"], errors["resolved"], errors["firing_now"]) == (3, 2, 1)
    assert errors["mean_time_to_resolve_ms"] == 120_000  # of the two resolved: 60 s and 180 s
    assert errors["total_firing_time_ms"] == 270_000  # and the firing one's 30 s so far
    assert errors["first_fired"].startswith("2025-03-10T14:05")
    assert patterns["most_frequent"][0] == {"name": "ApiErrorRateHigh", "count": 3, "severity": "warning"}
    assert patterns["by_severity"] == {"critical": 1, "warning": 3, "info": 0}
    assert patterns["by_source"] == {"api": 3, "resilience": 1}
    assert (patterns["by_hour_of_day"]["14"], patterns["by_hour_of_day"]["15"]) == (2, 1)
    assert patterns["busiest_hour"] == "14"
    assert patterns["mean_time_to_resolve_ms"] == 90_000


def test_no_alerts_gives_zero_counts_and_no_made_up_means() -> None:
    patterns = alert_patterns([])
    assert patterns["total_alerts"] == 0 and patterns["by_severity"] == {"critical": 0, "warning": 0, "info": 0}
    assert patterns["mean_time_to_resolve_ms"] is None and patterns["busiest_hour"] is None
    assert patterns["most_frequent"] == [] and len(patterns["by_hour_of_day"]) == 24


def test_history_report_is_capped_by_retention_and_lists_newest_first() -> None:
    now = ts(2025, 3, 12)
    records = [record("B", now - 100), record("A", now - 2 * DAY)]
    report = history_report(7, 3, records, now, {"backend": "memory"}, limit=1)
    assert (report["days"], report["covered_days"]) == (7, 3) and "ALERT_HISTORY_RETENTION_DAYS" in report["note"]
    assert [a["name"] for a in report["alerts"]] == ["B"] and "newest 1 of 2" in report["alerts_note"]
    assert report["patterns"]["total_alerts"] == 2  # patterns cover every record, not just those listed
    assert report["alerts"][0]["firing_time_ms"] == 60_000


def test_iso_weeks_start_on_monday_utc_and_cross_the_year() -> None:
    assert week_start(ts(2025, 1, 1, 12)) == datetime(2024, 12, 30, tzinfo=UTC)  # ISO 2025-W01
    summary = weekly_summary([record("A", ts(2025, 1, 1, 12))], ts(2025, 1, 2), weeks=2, retention_s=30 * DAY)
    assert [w["week"] for w in summary["weeks"]] == ["2024-W52", "2025-W01"]
    assert summary["weeks"][-1]["total"] == 1


def test_weekly_summary_compares_each_week_with_the_one_before() -> None:
    now = ts(2025, 3, 12, 12)  # Wednesday of 2025-W11
    records = ([record("A", ts(2025, 3, 4) + i * 3600, severity="critical") for i in range(4)]  # W10: 4
               + [record("A", ts(2025, 3, 11)), record("B", ts(2025, 3, 10, 1), None)]  # W11: 2
               + [record("C", ts(2025, 2, 20))])  # W08: older than the weeks asked for
    summary = weekly_summary(records, now, weeks=3, retention_s=30 * DAY)
    assert [w["week"] for w in summary["weeks"]] == ["2025-W09", "2025-W10", "2025-W11"]
    w09, w10, w11 = summary["weeks"]
    assert w09["total"] == 0 and w09["change_from_previous"] == {
        "current": 0, "previous": 1, "change": -1, "change_percent": -100.0}
    assert w10["by_severity"]["critical"] == 4 and w10["change_from_previous"]["change_percent"] is None
    assert w11["by_name"] == {"A": 1, "B": 1} and w11["in_progress"] and not w10["in_progress"]
    comparison = summary["comparison"]
    assert (comparison["current"], comparison["previous"], comparison["change"]) == (2, 4, -2)
    assert comparison["change_percent"] == -50.0 and comparison["trend"] == "decreasing"
    assert comparison["by_severity"]["critical"] == {"current": 0, "previous": 4, "change": -4,
                                                     "change_percent": -100.0}
    assert comparison["current_week_elapsed_days"] == 2.5


def test_weeks_reaching_past_the_retention_are_flagged() -> None:
    summary = weekly_summary([], ts(2025, 3, 12), weeks=3, retention_s=10 * DAY)
    assert [w["before_retention"] for w in summary["weeks"]] == [True, False, False]
