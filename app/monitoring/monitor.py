"""Glue between the snapshot history and the pure monitoring functions: windows, measurements, alerts.

With a cluster view (Redis shared by the service's workers and replicas) every window is over the
merged snapshots of all instances, so any worker answers for the whole service and judges alerts
on the same numbers; without it (no Redis, or Redis down) this worker's own history answers.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from app.monitoring.alerts import Alert, AlertBook
from app.monitoring.cluster import (
    ClusterView,
    Member,
    MergeCache,
    at_or_before,
    merged_at,
    merged_newest,
    process_name,
)
from app.monitoring.kpis import ALERT_WINDOW_SECONDS
from app.monitoring.measurements import Measurements, is_api, measure
from app.monitoring.windows import Window
from instrumentation.instruments import HTTP_SERVER_DURATION
from instrumentation.reader import SnapshotHistory
from instrumentation.snapshot import Snapshot


class Monitor:
    def __init__(self, history: SnapshotHistory, alerts: AlertBook, cluster: ClusterView | None = None,
                 instance: str = "") -> None:
        self.history = history
        self.alerts = alerts
        self.cluster = cluster
        self.instance = instance  # this worker's service.instance.id
        self.merged = MergeCache()

    def members(self) -> tuple[Member, ...] | None:
        """The other instances when the cluster view is available, else None (local answers)."""
        return self.cluster.members() if self.cluster is not None else None

    def window(self, seconds: float, now: Snapshot | None = None) -> Window:
        """From the snapshot at (or the oldest after) ``now - seconds`` to a fresh one."""
        newest = now or self.history.latest()
        start = newest.timestamp - seconds
        oldest = self.history.at_or_before(start) or Snapshot(newest.timestamp)
        members = self.members()
        if not members:
            return Window(oldest, newest)
        return Window(merged_at(start, oldest, members, self.merged), merged_newest(newest, members))

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
        members = self.members()
        if members:
            return self._cluster_trend(latest, start, points, members)
        kept = self.history.through(start, latest)
        if len(kept) < 2:
            return []
        step = max(1, (len(kept) - 1) // points)
        edges = kept[::step]
        if edges[-1] is not latest:
            edges.append(latest)
        return [Window(a, b) for a, b in itertools.pairwise(edges)]

    def _cluster_trend(self, latest: Snapshot, start: float, points: int,
                       members: tuple[Member, ...]) -> list[Window]:
        """The same slicing over the times at which any instance took a snapshot."""
        own = self.history.snapshots()
        own_stamps = [s.timestamp for s in own]
        stamps = sorted({t for t in own_stamps if start <= t < latest.timestamp}
                        | {t for m in members for t in m.stamps if start <= t < latest.timestamp})
        kept = [*stamps, latest.timestamp]
        if len(kept) < 2:
            return []
        step = max(1, (len(kept) - 1) // points)
        edges = kept[::step]
        snaps = [merged_at(t, at_or_before(own, own_stamps, t) or Snapshot(t), members, self.merged)
                 for t in edges if t != latest.timestamp]
        snaps.append(merged_newest(latest, members))
        return [Window(a, b) for a, b in itertools.pairwise(snaps)]

    def scope(self, seconds: float) -> dict[str, Any]:
        """Whose measurements answer: ``source`` redis (every instance) or local (this worker only)."""
        members = self.members()
        newest = self.history.latest()
        start = newest.timestamp - seconds
        own_old = self.history.at_or_before(start) or Snapshot(newest.timestamp)
        own = {"id": self.instance, "process": process_name(), "live": True, "this_worker": True,
               "requests": _requests(Window(own_old, newest))}
        if members is None:
            error = self.cluster.last_error if self.cluster is not None else None
            note = ("Redis not configured" if self.cluster is None else f"Redis unavailable ({error})")
            return {"source": "local", "workers": 1, "instances": [own],
                    "note": f"{note}: this worker's measurements only"}
        now = newest.timestamp
        others = []
        for m in members:
            old, new = m.at_or_before(start), m.latest
            others.append({**m.as_dict(now), "this_worker": False,
                           "requests": _requests(Window(old, new)) if old is not None and new is not None else 0})
        return {"source": "redis", "workers": 1 + sum(1 for m in members if m.live(now)),
                "instances": [own, *others]}

    @staticmethod
    def now() -> float:
        return time.time()


def _requests(window: Window) -> int:
    """API requests in the window (what ``Measurements.requests`` counts)."""
    point = window.histogram(HTTP_SERVER_DURATION, is_api)
    return point.count if point is not None else 0
