"""OpenTelemetry -> Prometheus names, as the Collector's prometheus exporter builds them
(``add_metric_suffixes``): dots to underscores, the unit as a suffix, ``_total`` on counters."""

from __future__ import annotations

import re

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_UNITS = {
    "s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "min": "minutes", "h": "hours", "d": "days",
    "%": "percent", "Hz": "hertz", "V": "volts", "W": "watts", "A": "amperes", "m": "meters",
}


def unit_suffix(unit: str, kind: str) -> str:
    if not unit or unit.startswith("{"):
        return ""  # annotations like {token} are dropped
    if unit == "1":
        return "ratio" if kind == "gauge" else ""
    return _UNITS.get(unit, _INVALID.sub("_", unit))


def metric_name(name: str, unit: str, kind: str) -> str:
    base = _INVALID.sub("_", name)
    suffix = unit_suffix(unit, kind)
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    if kind == "counter" and not base.endswith("_total"):
        base = f"{base}_total"
    return base


def label_name(name: str) -> str:
    label = _INVALID.sub("_", name).replace(":", "_")
    return f"key_{label}" if label[:1].isdigit() else label
