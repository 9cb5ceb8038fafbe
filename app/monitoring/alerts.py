"""The in-process alert engine: the KPI catalog judged over a window, with alert lifecycles.

An alert is recorded when its KPI is first breached (``first_seen``), refreshed while it stays
breached (``last_seen``), and resolved when it is not; resolved alerts are kept, bounded.

Evaluations run on the history thread and in request handlers at once. Each change is queued, as a
copy, under the engine lock, so the queue holds the changes in the order they happened; the hooks
run outside it, one change at a time and in that order, on whichever evaluating thread finds no one
else delivering. A receiver therefore never sees an alert resolve before it fired, and no thread
waits for another's hooks: it leaves its changes to the thread already delivering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from app.monitoring.kpis import ESCALATION, KPI, SEVERITIES, Severity
from app.monitoring.measurements import Measurements

_log = logging.getLogger(__name__)


@dataclass
class Alert:
    name: str
    severity: Severity
    source: str
    title: str
    message: str
    value: float
    threshold: float
    unit: str
    response_time: str
    escalation: str
    status: str  # firing | resolved
    first_seen: float
    last_seen: float
    resolved_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def breaches(catalog: Iterable[KPI], m: Measurements) -> list[tuple[KPI, float]]:
    """The KPIs breached by these measurements, with the measured value (pure)."""
    found = []
    for kpi in catalog:
        if kpi.min_field is not None and getattr(m, kpi.min_field) < kpi.min_samples:
            continue
        value = float(getattr(m, kpi.field))
        if kpi.breached(value):
            found.append((kpi, value))
    return found


def _message(kpi: KPI, value: float) -> str:
    relation = "above" if kpi.op == ">" else "below"
    return f"{kpi.title} is {value:g} {kpi.unit}, {relation} the threshold of {kpi.threshold:g} {kpi.unit}"


Change = Literal["fired", "resolved"]


class AlertBook:
    """Active and resolved alerts. ``on_fire`` and ``on_resolve`` see each change once, in order, with
    the alert as it was at that change."""

    def __init__(self, catalog: tuple[KPI, ...], keep_resolved: int = 1000,
                 on_fire: Callable[[Alert], None] | None = None,
                 on_resolve: Callable[[Alert], None] | None = None) -> None:
        self.catalog = catalog
        self.active: dict[str, Alert] = {}
        self.resolved: deque[Alert] = deque(maxlen=keep_resolved)
        self._on_fire = on_fire
        self._on_resolve = on_resolve
        self._lock = threading.Lock()
        self._outbox: deque[tuple[Change, Alert]] = deque()  # appended under _lock only
        self._delivering = threading.Lock()  # held by the one thread running the hooks
        self.evaluated_at: float | None = None

    def evaluate(self, m: Measurements, now: float | None = None) -> list[Alert]:
        now = time.time() if now is None else now
        with self._lock:
            current = {kpi.name: (kpi, value) for kpi, value in breaches(self.catalog, m)}
            for name, (kpi, value) in current.items():
                alert = self.active.get(name)
                if alert is None:
                    alert = Alert(name, kpi.severity, kpi.source, kpi.title, _message(kpi, value), value,
                                  kpi.threshold, kpi.unit, kpi.response_time, ESCALATION[kpi.severity],
                                  "firing", now, now)
                    self.active[name] = alert
                    self._outbox.append(("fired", replace(alert)))
                else:
                    alert.value, alert.last_seen, alert.message = value, now, _message(kpi, value)
            for name in [n for n in self.active if n not in current]:
                alert = self.active.pop(name)
                alert.status, alert.resolved_at = "resolved", now
                self.resolved.append(alert)
                self._outbox.append(("resolved", replace(alert)))
            self.evaluated_at = now
            active = sorted(self.active.values(), key=lambda a: (SEVERITIES.index(a.severity), a.name))
        self._deliver()
        return active

    def _deliver(self) -> None:
        """Run the hooks for the queued changes, oldest first, unless another thread already is."""
        while self._outbox:
            if not self._delivering.acquire(blocking=False):
                return  # the thread delivering takes ours too: it looks again after releasing
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        change, alert = self._outbox.popleft()
                    hook = self._on_fire if change == "fired" else self._on_resolve
                    try:
                        if hook is not None:
                            hook(alert)
                    except Exception:  # a failing receiver must not fail the evaluation, nor skip the rest
                        _log.exception("alert %s hook failed for %s", change, alert.name)
            finally:
                self._delivering.release()


def by_severity(alerts: Iterable[Alert]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        counts[alert.severity] += 1
    return counts
