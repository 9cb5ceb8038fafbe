"""The in-process metric reader and the bounded history of its cumulative snapshots.

The history is thinned as it ages (full resolution for the last hour, one snapshot per 5 minutes up to
a day, one per hour beyond), so a 168-hour window costs a bounded number of snapshots: at a 60 s
interval about 60 + 276 + 144 = 480, whatever the uptime.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData

from instrumentation.snapshot import Interner, Snapshot, to_snapshot

_log = logging.getLogger(__name__)

# (max age in seconds, resolution in seconds) from the newest tier to the oldest.
DEFAULT_TIERS: tuple[tuple[float, float], ...] = ((3600.0, 0.0), (86400.0, 300.0), (float("inf"), 3600.0))


class InProcessReader(MetricReader):
    """A pull reader with cumulative temporality, collected on demand and by the history thread."""

    def __init__(self) -> None:
        cumulative = AggregationTemporality.CUMULATIVE
        super().__init__(preferred_temporality={
            Counter: cumulative, UpDownCounter: cumulative, Histogram: cumulative,
            ObservableCounter: cumulative, ObservableUpDownCounter: cumulative, ObservableGauge: cumulative,
        })
        self._lock = threading.Lock()
        self._latest: MetricsData | None = None
        self._intern = Interner()

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._latest = metrics_data

    def snapshot(self, now: float | None = None) -> Snapshot:
        with self._lock:
            self.collect()
            data, self._latest = self._latest, None
            return to_snapshot(data, time.time() if now is None else now, self._intern)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def thin(snapshots: Sequence[Snapshot], now: float, retention_s: float,
         tiers: Sequence[tuple[float, float]] = DEFAULT_TIERS) -> list[Snapshot]:
    """Keep the first snapshot of each resolution slot of each age tier; drop what is past retention."""
    kept: list[Snapshot] = []
    seen: set[tuple[int, int]] = set()
    for snap in snapshots:
        age = now - snap.timestamp
        if age > retention_s:
            continue
        for tier, (max_age, resolution) in enumerate(tiers):
            if age <= max_age:
                if resolution <= 0:
                    kept.append(snap)
                else:
                    slot = (tier, int(snap.timestamp // resolution))
                    if slot not in seen:
                        seen.add(slot)
                        kept.append(snap)
                break
    return kept


class SnapshotHistory:
    """Bounded, time-ordered cumulative snapshots; appended to by a daemon thread off the request path."""

    def __init__(self, reader: InProcessReader, interval_s: float, retention_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self.interval_s = interval_s
        self.retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshots: list[Snapshot] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.on_record: Callable[[Snapshot], object] | None = None  # called on the history thread
        self._pinned: ContextVar[list[Snapshot] | None] = ContextVar(f"pinned_snapshot_{id(self)}", default=None)

    # -- reading
    def snapshots(self) -> list[Snapshot]:
        with self._lock:
            return list(self._snapshots)

    def latest(self) -> Snapshot:
        """A fresh snapshot: what the SDK holds now (inside ``pinned()``, the one taken for that scope)."""
        pinned = self._pinned.get()
        if pinned is None:
            return self._reader.snapshot(self._clock())
        if not pinned:
            pinned.append(self._reader.snapshot(self._clock()))
        return pinned[0]

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Every ``latest()`` inside reads one snapshot, taken at the first: an answer built from several
        reads (window, trend, scope, alerts) agrees with itself, and collects the SDK once, not four times
        (a collection runs every observable callback: ~2 ms). Scoped by context: concurrent answers each
        take their own."""
        token = self._pinned.set([])
        try:
            yield
        finally:
            self._pinned.reset(token)

    def through(self, start: float, latest: Snapshot) -> list[Snapshot]:
        """The kept snapshots from ``start`` on that are older than ``latest``, then ``latest``: a series
        of cumulative states in time order, even when ``latest`` is a pinned one that a later record of
        the history thread has overtaken."""
        with self._lock:
            return [s for s in self._snapshots if start <= s.timestamp < latest.timestamp] + [latest]

    def at_or_before(self, timestamp: float) -> Snapshot | None:
        """The newest snapshot taken at or before ``timestamp``, else the oldest one kept."""
        with self._lock:
            if not self._snapshots:
                return None
            best = self._snapshots[0]
            for snap in self._snapshots:
                if snap.timestamp <= timestamp:
                    best = snap
                else:
                    break
            return best

    def memory_bytes(self) -> int:
        with self._lock:
            return sum(s.approx_bytes() for s in self._snapshots)

    def __len__(self) -> int:
        with self._lock:
            return len(self._snapshots)

    @property
    def running(self) -> bool:
        """The collection thread is alive (``/internal/monitoring/status``)."""
        return self._thread is not None and self._thread.is_alive()

    # -- writing
    def record(self, snapshot: Snapshot | None = None) -> Snapshot:
        snap = snapshot or self._reader.snapshot(self._clock())
        with self._lock:
            self._snapshots.append(snap)
            self._snapshots = thin(self._snapshots, snap.timestamp, self.retention_s)
        return snap

    def start(self) -> None:
        if self._thread is not None:
            return
        self.record()  # the baseline: every window of a fresh app starts here
        self._thread = threading.Thread(target=self._run, name="metrics-history", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                snapshot = self.record()
                if self.on_record is not None:
                    self.on_record(snapshot)
                self.last_error = None
            except Exception as exc:  # the history must outlive a bad collection
                self.last_error = repr(exc)
                _log.warning("metrics history collection failed: %r", exc)
