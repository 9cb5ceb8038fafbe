"""Exemplars that outlive the collection that drained them.

The SDK hands a histogram's exemplars to the collection that follows the measurement and then forgets
them (its reservoirs reset on every collect). The exporting in-process reader is collected by several
callers (the history thread, a runbook answer, the Pushgateway pusher), and every collection is
exported: a collection with no new request in a bucket sent that bucket without its exemplar, and the
Collector's Prometheus exporter, which serves the newest point only, dropped the exemplar before
Prometheus scraped it. So each bucket keeps its newest exemplar until a newer one replaces it or it is
older than ``max_age_s``: what a Prometheus client library does, whatever collects in between.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Hashable, Sequence
from dataclasses import replace

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import Histogram, HistogramDataPoint, MetricsData

# Long enough for several scrapes and a Prometheus restart; not so long that an exemplar outlives the
# trace it points to in a bounded trace store.
DEFAULT_MAX_AGE_S = 300.0

_Key = tuple[Hashable, ...]


def bucket_of(value: float, bounds: Sequence[float]) -> int:
    """The bucket a value falls in: bucket i holds (bounds[i-1], bounds[i]], the last one the rest."""
    return bisect_left(bounds, value)


class ExemplarMemory:
    def __init__(self, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._kept: dict[_Key, Exemplar] = {}
        self._lock = threading.Lock()  # collections come from several threads

    def __len__(self) -> int:
        return len(self._kept)

    def carry(self, data: MetricsData, now_ns: int) -> MetricsData:
        """``data`` with every histogram bucket's newest exemplar: this collection's, else the one kept."""
        oldest = now_ns - int(self.max_age_s * 1e9)
        with self._lock:
            self._kept = {k: e for k, e in self._kept.items() if e.time_unix_nano >= oldest}
            if not self._kept and not _has_exemplars(data):
                return data  # the common idle case: nothing to carry, nothing to copy
            return replace(data, resource_metrics=[
                replace(rm, scope_metrics=[
                    replace(sm, metrics=[
                        replace(m, data=replace(m.data, data_points=[
                            self._point((sm.scope.name, m.name), p) for p in m.data.data_points]))
                        if isinstance(m.data, Histogram) else m
                        for m in sm.metrics])
                    for sm in rm.scope_metrics])
                for rm in data.resource_metrics])

    def _point(self, series: _Key, point: HistogramDataPoint) -> HistogramDataPoint:
        key = (*series, frozenset((point.attributes or {}).items()))
        newest: dict[int, Exemplar] = {}
        for exemplar in point.exemplars:
            bucket = bucket_of(exemplar.value, point.explicit_bounds)
            if bucket not in newest or exemplar.time_unix_nano >= newest[bucket].time_unix_nano:
                newest[bucket] = exemplar
        for bucket, exemplar in newest.items():
            self._kept[(*key, bucket)] = exemplar
        carried = [self._kept[k] for b in range(len(point.explicit_bounds) + 1)
                   if b not in newest and (k := (*key, b)) in self._kept]
        if not carried:
            return point
        return replace(point, exemplars=[*point.exemplars, *carried])


def _has_exemplars(data: MetricsData) -> bool:
    return any(p.exemplars for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
               if isinstance(m.data, Histogram) for p in m.data.data_points)
