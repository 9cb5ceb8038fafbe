"""Glue between the snapshot history and the pure monitoring functions: windows, measurements, alerts."""

from __future__ import annotations

import itertools
import time

from app.monitoring.alerts import Alert, AlertBook
from app.monitoring.kpis import ALERT_WINDOW_SECONDS
from app.monitoring.measurements import Measurements, measure
from app.monitoring.windows import Window
from instrumentation.reader import SnapshotHistory
from instrumentation.snapshot import Snapshot


class Monitor:
    def __init__(self, history: SnapshotHistory, alerts: AlertBook) -> None:
        self.history = history
        self.alerts = alerts

    def window(self, seconds: float, now: Snapshot | None = None) -> Window:
        """From the snapshot at (or the oldest after) ``now - seconds`` to a fresh one."""
        newest = now or self.history.latest()
        oldest = self.history.at_or_before(newest.timestamp - seconds)
        return Window(oldest or Snapshot(newest.timestamp), newest)

    def measure(self, seconds: float, now: Snapshot | None = None) -> Measurements:
        return measure(self.window(seconds, now))

    def evaluate_alerts(self, now: Snapshot | None = None) -> list[Alert]:
        snapshot = now or self.history.latest()
        return self.alerts.evaluate(self.measure(ALERT_WINDOW_SECONDS, snapshot), snapshot.timestamp)

    def trend(self, seconds: float, points: int = 12) -> list[Measurements]:
        """Measurements over ``points`` consecutive slices of the window, oldest first."""
        return [measure(w) for w in self.trend_windows(seconds, points)]

    def trend_windows(self, seconds: float, points: int = 12) -> list[Window]:
        """``points`` consecutive windows (about as many) covering the last ``seconds``, oldest first."""
        latest = self.history.latest()
        start = latest.timestamp - seconds
        kept = [s for s in self.history.snapshots() if s.timestamp >= start] + [latest]
        if len(kept) < 2:
            return []
        step = max(1, (len(kept) - 1) // points)
        edges = kept[::step]
        if edges[-1] is not latest:
            edges.append(latest)
        return [Window(a, b) for a, b in itertools.pairwise(edges)]

    @staticmethod
    def now() -> float:
        return time.time()
