"""When each resilience preset was in force, from the change log: every change closes the period of
the preset before it (``active_since`` .. ``timestamp``); the live preset's period runs to now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.monitoring.measurements import percent
from app.monitoring.reports import iso


@dataclass(frozen=True)
class Period:
    preset: str
    start: float
    end: float
    current: bool

    def as_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "start": iso(self.start), "end": iso(self.end), "current": self.current,
                "duration_seconds": round(self.end - self.start, 3)}


def preset_periods(changes: Sequence[Mapping[str, Any]], current: str, active_since: float,
                   now: float) -> list[Period]:
    """When each preset was in force, oldest first: each change closes the period of the one before."""
    periods = [Period(c["preset_before"], c["active_since"], c["timestamp"], False) for c in changes]
    return [*periods, Period(current, active_since, now, True)]


def preset_time(periods: Sequence[Period], start: float, end: float) -> dict[str, dict[str, Any]]:
    """Seconds each preset was in force within [start, end]."""
    out: dict[str, dict[str, Any]] = {}
    for p in periods:
        overlap = min(p.end, end) - max(p.start, start)
        if overlap > 0:
            row = out.setdefault(p.preset, {"active_seconds": 0.0, "periods": 0})
            row["active_seconds"] += overlap
            row["periods"] += 1
    for row in out.values():
        row["share_percent"] = percent(row["active_seconds"], end - start)
        row["active_seconds"] = round(row["active_seconds"], 3)
    return out
