"""What each guide script checks, as pure functions from the service's answers to verdicts.

Exit codes for cron: 0 healthy, 1 degraded or warnings, 2 critical or unhealthy, 3 unreachable.
Endpoints a service does not have (404) are reported as skipped, not as a health problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from app.ops.client import Answer

Level = Literal["ok", "info", "skipped", "warning", "critical"]
EXIT_CODES: dict[str, int] = {"ok": 0, "info": 0, "skipped": 0, "warning": 1, "critical": 2}
EXIT_UNREACHABLE = 3
VERDICTS = {0: "healthy", 1: "degraded", 2: "critical", 3: "unreachable"}
STATUS_LEVELS: dict[str, Level] = {"healthy": "ok", "degraded": "warning", "unhealthy": "critical"}

# The guide's "Automated Health Endpoints" table: (expected, critical threshold) in ms.
RESPONSE_TIMES_MS: dict[str, tuple[float, float]] = {
    "/health": (100.0, 1000.0),
    "/internal/monitoring/overview": (500.0, 2000.0),
    "/internal/monitoring/health": (300.0, 1500.0),
}


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    message: str
    value: Any = None


@dataclass
class Report:
    command: str
    url: str
    timestamp: str
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the answers as read, for --json and files
    unreachable: str | None = None

    @property
    def exit_code(self) -> int:
        if self.unreachable is not None:
            return EXIT_UNREACHABLE
        return max((EXIT_CODES[c.level] for c in self.checks), default=0)

    @property
    def verdict(self) -> str:
        return VERDICTS[self.exit_code]

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "url": self.url, "timestamp": self.timestamp, "verdict": self.verdict,
                "exit_code": self.exit_code, "unreachable": self.unreachable,
                "checks": [asdict(c) for c in self.checks], "data": self.data}


def _path(answer: Answer) -> str:
    return answer.path.split("?", 1)[0]


def unavailable(name: str, answer: Answer) -> Check | None:
    """A check for an answer that carries no data: skipped for 404, critical for 5xx, warning else."""
    if answer.ok:
        return None
    if answer.status == 404:
        return Check(name, "skipped", f"{_path(answer)} is not available on this service (HTTP 404)")
    level: Level = "critical" if answer.status >= 500 else "warning"
    detail = "not JSON" if answer.status == 200 else f"HTTP {answer.status}"
    return Check(name, level, f"{_path(answer)} answered {detail}: {answer.text[:200]}")


def response_time(answer: Answer) -> Check | None:
    limits = RESPONSE_TIMES_MS.get(_path(answer))
    if limits is None:
        return None
    expected, critical = limits
    ms = answer.elapsed_ms
    level: Level = "critical" if ms > critical else ("warning" if ms > expected else "ok")
    return Check(f"{_path(answer)} response time", level,
                 f"{ms:.1f} ms (expected < {expected:g} ms, critical > {critical:g} ms)", ms)


def status_check(name: str, answer: Answer, *path: str) -> Check:
    """A healthy/degraded/unhealthy field read as the guide's jq reads it."""
    missing = unavailable(name, answer)
    if missing:
        return missing
    status = answer.field(*path)
    jq = "." + ".".join(path)
    if not isinstance(status, str):
        return Check(name, "warning", f"{_path(answer)} has no {jq}")
    return Check(name, STATUS_LEVELS.get(status, "warning"), f"{status} ({jq})", status)


def basic_health(answer: Answer) -> Check:
    if answer.status != 200:
        return Check("Basic health", "critical", f"/health answered HTTP {answer.status}: `curl -f` fails")
    status = answer.field("status")
    return Check("Basic health", STATUS_LEVELS.get(str(status), "warning"), f"/health: {status}", status)


def alert_counts(answer: Answer) -> Check:
    missing = unavailable("Active alerts", answer)
    if missing:
        return missing
    counts = answer.field("by_severity") or {}
    critical, warning = int(counts.get("critical", 0)), int(counts.get("warning", 0))
    names = [f"{a.get('name')} ({a.get('severity')}): {a.get('message')}" for a in answer.field("alerts") or []
             if isinstance(a, Mapping) and a.get("severity") in ("critical", "warning")]
    level: Level = "critical" if critical else ("warning" if warning else "ok")
    message = f"critical {critical}, warning {warning}" + ("".join(f"\n    - {n}" for n in names))
    return Check("Active alerts", level, message, {"critical": critical, "warning": warning})


def info(name: str, answer: Answer, *path: str) -> Check:
    """A figure the guide's script prints without judging it."""
    missing = unavailable(name, answer)
    if missing:
        return missing
    value = answer.field(*path) if path else answer.body
    return Check(name, "info", brief(value), value)


def brief(value: Any, limit: int = 6) -> str:
    """A one-line reading of an answer whose shape the tool does not need to know."""
    if isinstance(value, Mapping):
        scalars = [f"{k}={v}" for k, v in value.items() if isinstance(v, str | int | float | bool)]
        nested = [k for k, v in value.items() if isinstance(v, Mapping | list)]
        parts = scalars[:limit] + ([f"+{len(scalars) - limit} more"] if len(scalars) > limit else [])
        return ", ".join(parts + ([f"sections: {', '.join(nested[:limit])}"] if nested else [])) or "{}"
    if isinstance(value, list):
        return f"{len(value)} item(s)"
    return "null (missing)" if value is None else str(value)


def daily(health: Answer, overview: Answer, monitoring_health: Answer, alerts: Answer) -> list[Check]:
    """The guide's "Daily health check script" plus its "Daily Health Verification" commands."""
    checks = [basic_health(health), status_check("System status", overview, "system_health", "status"),
              status_check("Infrastructure health", monitoring_health, "overall_status"), alert_counts(alerts)]
    if overview.ok:
        hit, errors = overview.field("cache_performance", "stats", "hit_ratio"), overview.field(
            "system_health", "error_rate")
        checks.append(Check("Performance summary", "info", f"Cache hit ratio: {hit}%, Error rate: {errors}%",
                            {"cache_hit_ratio": hit, "error_rate": errors}))
    checks += [c for c in (response_time(a) for a in (health, overview, monitoring_health)) if c]
    return checks


def trends(metrics: Answer) -> Check:
    missing = unavailable("Cache performance trends", metrics)
    if missing:
        return missing
    points = metrics.field("cache_metrics", "performance_trends") or []
    if not points:
        return Check("Cache performance trends", "info", "no trend points yet (the history is younger)", [])
    first, last = points[0], points[-1]
    return Check("Cache performance trends", "info",
                 f"{len(points)} points; hit ratio {first.get('hit_ratio')}% -> {last.get('hit_ratio')}%, "
                 f"P95 {first.get('p95_response_time')} -> {last.get('p95_response_time')} ms", len(points))


def weekly(metrics: Answer, resilience_trends: Answer, alert_history: Answer, alert_trends: Answer,
           memory_trends: Answer, capacity: Answer) -> list[Check]:
    """The guide's "Weekly Operations Review": trends, alert patterns, capacity."""
    return [
        status_check("System status (168 h)", metrics, "system_health", "status"),
        info("Average response time (ms)", metrics, "request_metrics", "avg_response_time"),
        info("Error rate (%)", metrics, "system_health", "error_rate"),
        trends(metrics),
        info("Resilience trends", resilience_trends, "trends"),
        info("Alert patterns (7 days)", alert_history, "patterns"),
        info("Alert weekly summary", alert_trends, "weekly_summary"),
        info("Memory trends (7 days)", memory_trends),
        info("Capacity analysis", capacity),
    ]


def monitor_tick(health: Answer, alerts: Answer | None) -> list[Check]:
    """One round of the guide's monitor_system.sh: the status, and the alerts when it is not healthy."""
    checks = [status_check("System status", health, "overall_status")]
    if alerts is not None:
        checks.append(alert_counts(alerts))
    return checks


def baseline(metrics: Answer, saved_to: str) -> list[Check]:
    """The guide's baseline_performance.sh: the three figures it extracts, and where the file went."""
    missing = unavailable("Baseline", metrics)
    if missing:
        return [missing]
    return [
        info("Cache hit ratio (%)", metrics, "cache_metrics", "hit_ratio"),
        info("Average response time (ms)", metrics, "request_metrics", "avg_response_time"),
        info("Error rate (%)", metrics, "system_health", "error_rate"),
        status_check("System status", metrics, "system_health", "status"),
        Check("Baseline saved", "ok", saved_to, saved_to),
    ]
