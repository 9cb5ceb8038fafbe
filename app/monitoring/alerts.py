"""The in-process alert engine: the KPI catalog judged over a window, with alert lifecycles.

An alert is recorded when its KPI is first breached (``first_seen``), refreshed while it stays
breached (``last_seen``), and resolved when it is not; resolved alerts are kept, bounded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from app.monitoring.kpis import ESCALATION, KPI, SEVERITIES, Severity
from app.monitoring.measurements import Measurements


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


class AlertBook:
    """Active and resolved alerts. ``on_fire`` and ``on_resolve`` see each change once."""

    def __init__(self, catalog: tuple[KPI, ...], keep_resolved: int = 1000,
                 on_fire: Callable[[Alert], None] | None = None,
                 on_resolve: Callable[[Alert], None] | None = None) -> None:
        self.catalog = catalog
        self.active: dict[str, Alert] = {}
        self.resolved: deque[Alert] = deque(maxlen=keep_resolved)
        self._on_fire = on_fire
        self._on_resolve = on_resolve
        self._lock = threading.Lock()
        self.evaluated_at: float | None = None

    def evaluate(self, m: Measurements, now: float | None = None) -> list[Alert]:
        now = time.time() if now is None else now
        fired: list[Alert] = []
        resolved: list[Alert] = []
        with self._lock:
            current = {kpi.name: (kpi, value) for kpi, value in breaches(self.catalog, m)}
            for name, (kpi, value) in current.items():
                alert = self.active.get(name)
                if alert is None:
                    alert = Alert(name, kpi.severity, kpi.source, kpi.title, _message(kpi, value), value,
                                  kpi.threshold, kpi.unit, kpi.response_time, ESCALATION[kpi.severity],
                                  "firing", now, now)
                    self.active[name] = alert
                    fired.append(alert)
                else:
                    alert.value, alert.last_seen, alert.message = value, now, _message(kpi, value)
            for name in [n for n in self.active if n not in current]:
                alert = self.active.pop(name)
                alert.status, alert.resolved_at = "resolved", now
                self.resolved.append(alert)
                resolved.append(alert)
            self.evaluated_at = now
            active = sorted(self.active.values(), key=lambda a: (SEVERITIES.index(a.severity), a.name))
        for alert in fired:
            if self._on_fire:
                self._on_fire(alert)
        for alert in resolved:
            if self._on_resolve:
                self._on_resolve(alert)
        return active


def by_severity(alerts: Iterable[Alert]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for alert in alerts:
        counts[alert.severity] += 1
    return counts
