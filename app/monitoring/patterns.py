"""Alert history as an operator reviews it each week: patterns per alert, and week-over-week trends.

Pure functions of alert records. Durations in ms (``reports.UNITS``); hours of day and ISO weeks in
UTC. A mean over nothing (no alert resolved yet) is null rather than a made-up zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.monitoring.alert_store import AlertRecord
from app.monitoring.kpis import SEVERITIES
from app.monitoring.reports import UNITS, iso

WEEK_SECONDS = 7 * 86400


def firing_ms(record: AlertRecord) -> float:
    """How long it fired: to its resolution, or to the last time it was seen firing."""
    return round(max(0.0, record.ended_at - record.first_seen) * 1000, 3)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _count(keys: Iterable[str], start: Iterable[str] = SEVERITIES) -> dict[str, int]:
    counts = dict.fromkeys(start, 0)
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def _durations(records: Sequence[AlertRecord]) -> dict[str, Any]:
    resolve = [firing_ms(r) for r in records if r.status == "resolved"]
    return {"total_firing_time_ms": round(sum(firing_ms(r) for r in records), 3),
            "mean_time_to_resolve_ms": _mean(resolve)}


def alert_patterns(records: Sequence[AlertRecord]) -> dict[str, Any]:
    """Counts, firing time and time to resolve per alert name, by severity, source and hour of day."""
    groups: dict[str, list[AlertRecord]] = {}
    for record in sorted(records, key=lambda r: r.first_seen):
        groups.setdefault(record.name, []).append(record)
    by_name = {
        name: {"count": len(group), "severity": group[-1].severity, "source": group[-1].source,
               "firing_now": sum(r.status == "firing" for r in group),
               "resolved": sum(r.status == "resolved" for r in group), **_durations(group),
               "first_fired": iso(group[0].first_seen), "last_fired": iso(group[-1].first_seen)}
        for name, group in sorted(groups.items())
    }
    hours = _count((f"{datetime.fromtimestamp(r.first_seen, UTC).hour:02d}" for r in records),
                   (f"{h:02d}" for h in range(24)))
    ranked = sorted(by_name.items(), key=lambda item: (-item[1]["count"], item[0]))
    return {
        "total_alerts": len(records),
        "firing_now": sum(r.status == "firing" for r in records),
        "resolved": sum(r.status == "resolved" for r in records),
        **_durations(records),
        "by_severity": _count(r.severity for r in records),
        "by_source": _count((r.source for r in records), ()),
        "by_name": by_name,
        "most_frequent": [{"name": name, "count": p["count"], "severity": p["severity"]} for name, p in ranked[:5]],
        "by_hour_of_day": hours,
        "busiest_hour": max(hours, key=lambda h: (hours[h], -int(h))) if records else None,
        "timezone": "UTC",
    }


def history_report(days: float, retention_days: float, records: Sequence[AlertRecord], now: float,
                   storage: dict[str, Any], limit: int = 500) -> dict[str, Any]:
    """The alerts that fired in the last ``days`` (as far as the retention reaches), newest first."""
    covered = min(days, retention_days)
    report: dict[str, Any] = {
        "days": days, "covered_days": covered, "retention_days": retention_days,
        "since": iso(now - covered * 86400), "until": iso(now), "units": UNITS,
        "total_alerts": len(records),
        "alerts": [{**r.as_dict(), "firing_time_ms": firing_ms(r)} for r in records[:limit]],
        "patterns": alert_patterns(records),
        "storage": storage,
    }
    if len(records) > limit:
        report["alerts_note"] = f"the newest {limit} of {len(records)} alerts are listed; patterns cover all"
    if days > retention_days:
        report["note"] = (f"alerts are kept {retention_days:g} days (ALERT_HISTORY_RETENTION_DAYS); "
                          f"older ones are gone")
    return report


def week_start(ts: float) -> datetime:
    """Monday 00:00 UTC of the ISO week holding ``ts``."""
    day = datetime.fromtimestamp(ts, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _week(start: datetime, records: Sequence[AlertRecord], now: float, retained_from: float) -> dict[str, Any]:
    year, week, _ = start.isocalendar()
    begin = start.timestamp()
    inside = [r for r in records if begin <= r.first_seen < begin + WEEK_SECONDS]
    return {"week": f"{year}-W{week:02d}", "start": iso(begin), "end": iso(begin + WEEK_SECONDS),
            "in_progress": begin + WEEK_SECONDS > now, "before_retention": begin < retained_from,
            "total": len(inside), "by_severity": _count(r.severity for r in inside),
            "by_name": _count((r.name for r in inside), ()), **_durations(inside)}


def _change(current: int, previous: int) -> dict[str, Any]:
    return {"current": current, "previous": previous, "change": current - previous,
            "change_percent": round(100 * (current - previous) / previous, 3) if previous else None}


def weekly_summary(records: Sequence[AlertRecord], now: float, weeks: int, retention_s: float) -> dict[str, Any]:
    """Alerts per ISO week (by when they fired), each compared with the week before; oldest first."""
    this_week = week_start(now)
    # one week more than shown, so the oldest shown week has its previous week to compare with
    buckets = [_week(this_week - timedelta(weeks=back), records, now, now - retention_s)
               for back in range(weeks, -1, -1)]
    for previous, week in itertools.pairwise(buckets):
        week["change_from_previous"] = _change(week["total"], previous["total"])
    current, previous = buckets[-1], buckets[-2]
    change = _change(current["total"], previous["total"])
    trend = "increasing" if change["change"] > 0 else ("decreasing" if change["change"] < 0 else "unchanged")
    elapsed_days = round((now - this_week.timestamp()) / 86400, 3)
    return {
        "current_week": current["week"],
        "weeks": buckets[1:],
        "comparison": {
            "current_week": current["week"], "previous_week": previous["week"], **change, "trend": trend,
            "by_severity": {sev: _change(current["by_severity"].get(sev, 0), previous["by_severity"].get(sev, 0))
                            for sev in {**previous["by_severity"], **current["by_severity"]}},
            "current_week_elapsed_days": elapsed_days,
            "note": f"the current week is in progress ({elapsed_days:g} of 7 days)",
        },
    }


def trends_report(records: Sequence[AlertRecord], now: float, weeks: int, retention_s: float,
                  storage: dict[str, Any]) -> dict[str, Any]:
    return {"weekly_summary": weekly_summary(records, now, weeks, retention_s), "weeks": weeks,
            "timezone": "UTC", "units": UNITS, "storage": storage}
