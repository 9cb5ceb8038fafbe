"""Windows over cumulative snapshots: deltas, rates and percentiles, as PromQL computes them.

``histogram_quantile(q, rate(h[w]))`` is the bucket-delta quantile below with linear interpolation
inside the bucket, the first bucket starting at 0 and the +Inf bucket answered by the highest bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from instrumentation.snapshot import Attrs, HistogramPoint, Snapshot

AttrFilter = Callable[[Mapping[str, object]], bool]


def _all(_attrs: Mapping[str, object]) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Window:
    old: Snapshot
    new: Snapshot

    @property
    def seconds(self) -> float:
        return max(0.0, self.new.timestamp - self.old.timestamp)

    def counter(self, name: str, where: AttrFilter = _all) -> float:
        """Increase of a counter over the window, summed over the matching series."""
        old = self.old.series(name)
        total = 0.0
        for attrs, value in self.new.series(name).items():
            if where(dict(attrs)):
                before = old.get(attrs, 0.0)
                total += value - before if value >= before else value  # a reset restarts from zero
        return total

    def counter_by(self, name: str, label: str, where: AttrFilter = _all) -> dict[str, float]:
        result: dict[str, float] = {}
        old = self.old.series(name)
        for attrs, value in self.new.series(name).items():
            attr_map = dict(attrs)
            if where(attr_map):
                key = str(attr_map.get(label, ""))
                before = old.get(attrs, 0.0)
                result[key] = result.get(key, 0.0) + (value - before if value >= before else value)
        return result

    def gauge(self, name: str, where: AttrFilter = _all) -> float:
        """The newest value of a gauge, summed over the matching series."""
        return sum(v for attrs, v in self.new.series(name).items() if where(dict(attrs)))

    def histogram(self, name: str, where: AttrFilter = _all) -> HistogramPoint | None:
        """Bucket-wise increase over the window, merged over the matching series."""
        old = self.old.histogram_series(name)
        merged: HistogramPoint | None = None
        for attrs, point in self.new.histogram_series(name).items():
            if where(dict(attrs)):
                delta = subtract(point, old.get(attrs))
                merged = delta if merged is None else add(merged, delta)
        return merged

    def histogram_by(self, name: str, label: str, where: AttrFilter = _all) -> dict[str, HistogramPoint]:
        old = self.old.histogram_series(name)
        result: dict[str, HistogramPoint] = {}
        for attrs, point in self.new.histogram_series(name).items():
            attr_map = dict(attrs)
            if where(attr_map):
                key = str(attr_map.get(label, ""))
                delta = subtract(point, old.get(attrs))
                result[key] = add(result[key], delta) if key in result else delta
        return result


def subtract(new: HistogramPoint, old: HistogramPoint | None) -> HistogramPoint:
    if old is None or old.bounds != new.bounds or old.count > new.count:
        return new  # no earlier point, or the series was reset
    return HistogramPoint(new.count - old.count, new.sum - old.sum, new.bounds,
                          tuple(a - b for a, b in zip(new.counts, old.counts, strict=True)))


def add(a: HistogramPoint, b: HistogramPoint) -> HistogramPoint:
    if a.bounds != b.bounds:
        return a if a.count >= b.count else b  # different buckets cannot be merged; keep the larger
    return HistogramPoint(a.count + b.count, a.sum + b.sum, a.bounds,
                          tuple(x + y for x, y in zip(a.counts, b.counts, strict=True)))


def quantile(q: float, point: HistogramPoint | None) -> float:
    """Prometheus' ``histogram_quantile``; 0.0 for an empty histogram."""
    if point is None or point.count <= 0:
        return 0.0
    rank = q * point.count
    cumulative = 0
    for index, count in enumerate(point.counts):
        previous = cumulative
        cumulative += count
        if cumulative >= rank and count > 0:
            if index >= len(point.bounds):  # the +Inf bucket
                return point.bounds[-1] if point.bounds else 0.0
            lower = point.bounds[index - 1] if index > 0 else 0.0
            upper = point.bounds[index]
            return lower + (upper - lower) * (rank - previous) / count
    return point.bounds[-1] if point.bounds else 0.0


def mean(point: HistogramPoint | None) -> float:
    return point.sum / point.count if point is not None and point.count > 0 else 0.0


def attrs_dict(attrs: Attrs) -> dict[str, object]:
    return dict(attrs)
