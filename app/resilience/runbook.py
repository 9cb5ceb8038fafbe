"""The resilience runbook answers: gathers breaker state, the change log and windows over the
snapshot history, and hands them to the pure functions of ``reports``."""

from __future__ import annotations

import logging
import time
from typing import Any

from app.monitoring.monitor import Monitor
from app.monitoring.windows import Window
from app.resilience import reports
from app.resilience.capacity import capacity_analysis
from app.resilience.config import ApplyRequest
from app.resilience.manager import SERVICE_BREAKER, Resilience
from app.resilience.timeline import Period, preset_periods
from instrumentation.snapshot import Snapshot

_log = logging.getLogger(__name__)
TREND_POINTS = 12
USAGE_SLICES = 10_000  # every kept snapshot: the hour of day needs the finest resolution there is


class ResilienceRunbook:
    def __init__(self, resilience: Resilience, monitor: Monitor, max_concurrency: int,
                 ai_p95_kpi_ms: float) -> None:
        self.r = resilience
        self.monitor = monitor
        self.max_concurrency = max_concurrency
        self.ai_p95_kpi_ms = ai_p95_kpi_ms

    @property
    def operations(self) -> list[str]:
        return [name for name in self.r.breakers if name != SERVICE_BREAKER]

    def breakers(self) -> dict[str, dict[str, Any]]:
        return {name: b.as_dict() for name, b in self.r.breakers.items()}

    def lifetime(self) -> Window:
        """Since the instruments started: cumulative values, as the breakers' own counts are."""
        latest = self.monitor.history.latest()
        return Window(Snapshot(self.r.started_at), latest)

    def periods(self, now: float) -> list[Period]:
        return preset_periods(self.r.changes, self.r.policy.name, self.r.active_since, now)

    def health(self) -> dict[str, Any]:
        return reports.health(self.breakers(), self.operations, self.r.policy, time.time())

    def metrics(self, hours: float) -> dict[str, Any]:
        return reports.metrics_report(self.breakers(), self.operations, self.r.policy, self.lifetime(),
                                      self.monitor.window(hours * 3600), hours)

    def performance(self, hours: float) -> dict[str, Any]:
        return reports.performance_trends(self.monitor.trend_windows(hours * 3600, TREND_POINTS), hours)

    def usage(self, hours: float) -> dict[str, Any]:
        seconds = hours * 3600
        window = self.monitor.window(seconds)
        return reports.usage_patterns(window, self.monitor.trend_windows(seconds, USAGE_SLICES), self.breakers(),
                                      self.operations, self.periods(window.new.timestamp), hours)

    def preset_trends(self, preset: str) -> dict[str, Any]:
        history = self.monitor.history
        latest = history.latest()
        measured = []
        for period in self.periods(latest.timestamp):
            if period.preset == preset:
                old = history.at_or_before(period.start) or Snapshot(period.start)
                new = latest if period.current else (history.at_or_before(period.end) or old)
                measured.append((period, Window(old, new)))
        return reports.preset_evolution(preset, measured, self.r.started_at)

    def capacity(self, hours: float) -> dict[str, Any]:
        seconds = hours * 3600
        return capacity_analysis(self.monitor.window(seconds),
                                 self.monitor.trend_windows(seconds, TREND_POINTS), self.max_concurrency,
                                 self.breakers(), self.r.policy, self.ai_p95_kpi_ms, hours)

    def recent_changes(self, limit: int) -> dict[str, Any]:
        return reports.recent_changes(self.r.changes, limit, self.r.config())

    def apply(self, request: ApplyRequest, source: str = "api") -> dict[str, Any]:
        policy, overrides = request.resolve(self.r.overrides)
        warnings = []
        try:
            # A snapshot at the switch, so the periods on either side are measured up to it exactly.
            self.monitor.history.record()
        except Exception as exc:  # telemetry trouble degrades preset trends; it must not refuse the switch
            _log.warning("snapshot at the resilience change failed: %r", exc)
            warnings.append(f"no snapshot at the change ({exc!r}): preset trends use the nearest one")
        change = self.r.apply(policy, source=source, overrides=overrides)
        kept = f" (overrides kept: {overrides})" if overrides and request.overrides is None else ""
        return {"message": f"resilience preset '{policy.name}' applied{kept}", "preset": policy.name,
                "policy": policy.as_dict(), "overrides": overrides, "previous_preset": change["preset_before"],
                "change": reports.change_view(change), "undo": change["undo"], "warnings": warnings}
