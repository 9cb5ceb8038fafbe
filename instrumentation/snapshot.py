"""Cumulative snapshots of the in-process reader, as plain immutable data.

A snapshot flattens the SDK's ``MetricsData`` into ``(metric name, attributes)`` series so that the
monitoring functions can subtract two snapshots without knowing the SDK's types.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

AttrValue = str | bool | int | float
Attrs = tuple[tuple[str, AttrValue], ...]
SeriesKey = tuple[str, Attrs]
Kind = Literal["counter", "updowncounter", "gauge", "histogram"]
V = TypeVar("V")
# Series by metric name (values, histograms), built on a snapshot's first read: a 168-hour answer reads
# each of a few dozen snapshots a few dozen times, and a scan of every series per read was half its time.
_Index = tuple[dict[str, dict[Attrs, float]], dict[str, dict[Attrs, "HistogramPoint"]]]


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
    # Not an init field: dataclasses.replace() builds a new snapshot whose index is its own.
    _index: _Index | None = field(default=None, init=False, compare=False, repr=False)

    def series(self, name: str) -> Mapping[Attrs, float]:
        return self._indexed()[0].get(name, _EMPTY)

    def histogram_series(self, name: str) -> Mapping[Attrs, HistogramPoint]:
        return self._indexed()[1].get(name, _EMPTY)

    def _indexed(self) -> _Index:
        index = self._index
        if index is None:
            index = (_by_metric(self.values), _by_metric(self.histograms))
            object.__setattr__(self, "_index", index)
        return index

    def approx_bytes(self) -> int:
        """Approximate memory held by this snapshot (keys and tuples are interned and shared), its
        by-name indexes included once built."""
        size = sys.getsizeof(self.values) + sys.getsizeof(self.histograms)
        size += sum(sys.getsizeof(v) for v in self.values.values())
        size += sum(sys.getsizeof(h) + sys.getsizeof(h.counts) for h in self.histograms.values())
        for by_name in self._index or ():  # a dict per metric, sharing the keys and values above
            size += sys.getsizeof(by_name) + sum(sys.getsizeof(m) for m in by_name.values())
        return size


_EMPTY: Mapping[Attrs, Any] = MappingProxyType({})


def _by_metric(series: Mapping[SeriesKey, V]) -> dict[str, dict[Attrs, V]]:
    """Plain dicts (picklable), handed out as read-only ``Mapping``s."""
    grouped: dict[str, dict[Attrs, V]] = {}
    for (name, attrs), value in series.items():
        grouped.setdefault(name, {})[attrs] = value
    return grouped


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


# -- a compact, stable wire form (instances of a service share their snapshots through Redis)
#
# {"v": 1, "t": timestamp,
#  "m": [[name, kind, unit, description], ...],   metric table, sorted by name
#  "a": [[[key, value], ...], ...],                attribute sets, each written once
#  "b": [[bound, ...], ...],                       histogram bucket bounds, each written once
#  "s": [[metric, attrs, value], ...],             counters, up-down counters, gauges
#  "h": [[metric, attrs, bounds, count, sum, [bucket counts]], ...]}
#
# Series are sorted so one snapshot always encodes to the same text. Values that are whole numbers
# are written as integers (a counter is ``12``, not ``12.0``) and read back as floats.

WIRE_VERSION = 1


class SnapshotFormatError(ValueError):
    """The text is not a snapshot of this wire version."""


def to_json(snapshot: Snapshot) -> str:
    names = sorted({n for n, _ in snapshot.values} | {n for n, _ in snapshot.histograms} | set(snapshot.meta))
    name_index = {n: i for i, n in enumerate(names)}
    attr_index: dict[Attrs, int] = {}
    bound_index: dict[tuple[float, ...], int] = {}

    def attrs(a: Attrs) -> int:
        return attr_index.setdefault(a, len(attr_index))

    def bounds(b: tuple[float, ...]) -> int:
        return bound_index.setdefault(b, len(bound_index))

    values = [[name_index[n], attrs(a), _compact(v)] for (n, a), v in sorted(snapshot.values.items(), key=_order)]
    histograms = [[name_index[n], attrs(a), bounds(h.bounds), h.count, _compact(h.sum), list(h.counts)]
                  for (n, a), h in sorted(snapshot.histograms.items(), key=_order)]
    meta = [[n, m.kind, m.unit, m.description] if (m := snapshot.meta.get(n)) else [n] for n in names]
    return json.dumps({
        "v": WIRE_VERSION, "t": snapshot.timestamp, "m": meta,
        "a": [[list(kv) for kv in a] for a in attr_index], "b": [list(b) for b in bound_index],
        "s": values, "h": histograms,
    }, separators=(",", ":"))


def from_json(text: str | bytes, intern: Interner | None = None) -> Snapshot:
    """The snapshot ``to_json`` wrote; attribute sets and bounds shared through ``intern``."""
    share = intern or Interner()
    try:
        data = json.loads(text)
        if data.get("v") != WIRE_VERSION:
            raise SnapshotFormatError(f"wire version {data.get('v')!r}, expected {WIRE_VERSION}")
        names = [sys.intern(str(row[0])) for row in data["m"]]
        meta = {names[i]: MetricMeta(row[1], row[2], row[3]) for i, row in enumerate(data["m"]) if len(row) == 4}
        attr_sets: list[Attrs] = [share(tuple((str(k), v) for k, v in a)) for a in data["a"]]  # type: ignore[misc]
        bound_sets: list[tuple[float, ...]] = [share(tuple(float(x) for x in b)) for b in data["b"]]  # type: ignore[misc]
        values = {(names[m], attr_sets[a]): float(v) for m, a, v in data["s"]}
        histograms = {(names[m], attr_sets[a]): HistogramPoint(int(c), float(s), bound_sets[b],
                                                               tuple(int(x) for x in counts))
                      for m, a, b, c, s, counts in data["h"]}
        return Snapshot(float(data["t"]), values, histograms, meta)
    except SnapshotFormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise SnapshotFormatError(f"unreadable snapshot: {exc!r}") from exc


def _order(item: tuple[SeriesKey, object]) -> tuple[str, str]:
    (name, attrs), _ = item
    return name, repr(attrs)


def _compact(value: float) -> float | int:
    value = float(value)  # the SDK sums integer records as int
    return int(value) if value.is_integer() and abs(value) < 2**53 else value
