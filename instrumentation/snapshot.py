"""Cumulative snapshots of the in-process reader, as plain immutable data.

A snapshot flattens the SDK's ``MetricsData`` into ``(metric name, attributes)`` series so that the
monitoring functions can subtract two snapshots without knowing the SDK's types.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

AttrValue = str | bool | int | float
Attrs = tuple[tuple[str, AttrValue], ...]
SeriesKey = tuple[str, Attrs]
Kind = Literal["counter", "updowncounter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class HistogramPoint:
    count: int
    sum: float
    bounds: tuple[float, ...]
    counts: tuple[int, ...]  # per bucket, len(bounds) + 1, the last one is +Inf


@dataclass(frozen=True, slots=True)
class MetricMeta:
    kind: Kind
    unit: str
    description: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    timestamp: float
    values: dict[SeriesKey, float] = field(default_factory=dict)  # counters, up-down counters, gauges
    histograms: dict[SeriesKey, HistogramPoint] = field(default_factory=dict)
    meta: dict[str, MetricMeta] = field(default_factory=dict)

    def series(self, name: str) -> dict[Attrs, float]:
        return {attrs: v for (n, attrs), v in self.values.items() if n == name}

    def histogram_series(self, name: str) -> dict[Attrs, HistogramPoint]:
        return {attrs: h for (n, attrs), h in self.histograms.items() if n == name}

    def approx_bytes(self) -> int:
        """Approximate memory held by this snapshot (keys and tuples are interned and shared)."""
        size = sys.getsizeof(self.values) + sys.getsizeof(self.histograms)
        size += sum(sys.getsizeof(v) for v in self.values.values())
        size += sum(sys.getsizeof(h) + sys.getsizeof(h.counts) for h in self.histograms.values())
        return size


class Interner:
    """Shares identical attribute tuples and bucket bounds between snapshots to bound memory."""

    def __init__(self) -> None:
        self._table: dict[object, object] = {}

    def __call__(self, value: tuple[object, ...]) -> tuple[object, ...]:
        return self._table.setdefault(value, value)  # type: ignore[return-value]


def to_snapshot(data: MetricsData | None, timestamp: float, intern: Interner | None = None) -> Snapshot:
    share = intern or Interner()
    values: dict[SeriesKey, float] = {}
    histograms: dict[SeriesKey, HistogramPoint] = {}
    meta: dict[str, MetricMeta] = {}
    if data is None:
        return Snapshot(timestamp)
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = metric.data
                kind: Kind
                if isinstance(points, Histogram):
                    kind = "histogram"
                    for hp in points.data_points:
                        key = (metric.name, _attrs(hp.attributes, share))
                        histograms[key] = HistogramPoint(
                            hp.count, hp.sum, share(tuple(hp.explicit_bounds)),  # type: ignore[arg-type]
                            tuple(hp.bucket_counts),
                        )
                elif isinstance(points, Sum | Gauge):
                    if isinstance(points, Gauge):
                        kind = "gauge"
                    else:
                        kind = "counter" if points.is_monotonic else "updowncounter"
                    for np_ in points.data_points:
                        values[(metric.name, _attrs(np_.attributes, share))] = float(np_.value)
                else:  # exponential histograms are not used by this service
                    continue
                meta[metric.name] = MetricMeta(kind, metric.unit or "", metric.description or "")
    return Snapshot(timestamp, values, histograms, meta)


def _attrs(attributes: object, share: Interner) -> Attrs:
    items = dict(attributes or {}).items()  # type: ignore[call-overload]
    return share(tuple(sorted((str(k), v) for k, v in items)))  # type: ignore[return-value]
