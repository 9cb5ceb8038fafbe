"""The four guide scripts: fetch what each one reads, hand it to ``checks``, return a ``Report``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from app.ops import checks
from app.ops.checks import Report
from app.ops.client import OpsClient, Unreachable
from instrumentation.redact import redact_url


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _guarded(command: str, client: OpsClient, body: Callable[[Report], None]) -> Report:
    report = Report(command, redact_url(client.base_url), _now())
    try:
        body(report)
    except Unreachable as exc:
        report.unreachable = str(exc)
    return report


def daily(client: OpsClient) -> Report:
    def run(report: Report) -> None:
        health = client.get("/health")
        overview = client.get("/internal/monitoring/overview")
        monitoring = client.get("/internal/monitoring/health")
        alerts = client.get("/internal/monitoring/alerts")
        report.checks = checks.daily(health, overview, monitoring, alerts)
        report.data = {"health": health.body, "overview": overview.body, "monitoring_health": monitoring.body,
                       "alerts": alerts.body}
    return _guarded("daily", client, run)


def weekly(client: OpsClient) -> Report:
    def run(report: Report) -> None:
        paths = {"metrics": "/internal/monitoring/metrics?time_window_hours=168",
                 "resilience_trends": "/internal/resilience/performance-metrics",
                 "alert_history": "/internal/monitoring/alerts/history?days=7",
                 "alert_trends": "/internal/monitoring/alerts/trends",
                 "memory_trends": "/internal/monitoring/memory-trends?days=7",
                 "capacity": "/internal/resilience/capacity-analysis"}
        answers = {name: client.get(path) for name, path in paths.items()}
        report.checks = checks.weekly(**answers)
        report.data = {name: a.body for name, a in answers.items()}
    return _guarded("weekly", client, run)


def monitor_once(client: OpsClient) -> Report:
    def run(report: Report) -> None:
        health = client.get("/internal/monitoring/health")
        healthy = health.field("overall_status") == "healthy"
        alerts = None if healthy else client.get("/internal/monitoring/alerts")
        report.checks = checks.monitor_tick(health, alerts)
        report.data = {"overall_status": health.field("overall_status"),
                       "alerts": [a for a in (alerts.field("alerts") or []) if isinstance(a, dict)
                                  and a.get("severity") in ("critical", "warning")] if alerts else []}
    return _guarded("monitor", client, run)


def monitor(client: OpsClient, interval_s: float, iterations: int,
            sleep: Callable[[float], None] = time.sleep) -> Iterator[Report]:
    """One report per round, ``iterations`` rounds (0: until interrupted)."""
    done = 0
    while iterations <= 0 or done < iterations:
        yield monitor_once(client)
        done += 1
        if iterations <= 0 or done < iterations:
            sleep(interval_s)


def baseline(client: OpsClient, output_dir: Path, window_hours: float = 24.0) -> Report:
    def run(report: Report) -> None:
        metrics = client.get(f"/internal/monitoring/metrics?time_window_hours={window_hours:g}")
        path = output_dir / f"performance_baseline_{datetime.now():%Y%m%d_%H%M%S}.json"
        if metrics.ok:
            output_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(metrics.body, indent=2) + "\n")
        report.checks = checks.baseline(metrics, str(path))
        report.data = {"file": str(path) if metrics.ok else None, "metrics": metrics.body}
    return _guarded("baseline", client, run)
