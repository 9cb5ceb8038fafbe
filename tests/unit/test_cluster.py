"""The cluster view: how the snapshots of several instances combine, and the windows over them."""

from __future__ import annotations

import itertools
import random
from typing import Any, cast

import pytest
from opentelemetry.metrics import Observation

from app.monitoring.alerts import AlertBook
from app.monitoring.cluster import ClusterView, Member, combine, merged_at, merged_newest
from app.monitoring.kpis import build_catalog
from app.monitoring.measurements import measure
from app.monitoring.monitor import Monitor
from app.monitoring.windows import Window
from instrumentation import TelemetryConfig, build_telemetry
from instrumentation.instruments import (
    BREAKER_STATE,
    CACHE_ENTRIES,
    CACHE_LOOKUPS,
    CACHE_MEMORY,
    GAUGE_MERGE,
    HTTP_SERVER_DURATION,
    MEMORY_LIMIT,
    PROCESS_MEMORY,
)
from instrumentation.reader import SnapshotHistory
from instrumentation.snapshot import HistogramPoint, MetricMeta, Snapshot

from .traffic import API_ROUTE, HTTP_BUCKETS

T0 = 1_700_000_000.0
HTTP_OK = (HTTP_SERVER_DURATION, (("http.response.status_code", 200), ("http.route", API_ROUTE)))
HITS = (CACHE_LOOKUPS, (("llm_obs.cache.result", "hit"),))
BREAKER = (BREAKER_STATE, (("llm_obs.circuit_breaker.name", "ai_service"),))
META = {HTTP_SERVER_DURATION: MetricMeta("histogram", "s", ""), CACHE_LOOKUPS: MetricMeta("counter", "", ""),
        PROCESS_MEMORY: MetricMeta("updowncounter", "By", ""), MEMORY_LIMIT: MetricMeta("gauge", "By", ""),
        BREAKER_STATE: MetricMeta("gauge", "", ""), CACHE_ENTRIES: MetricMeta("gauge", "", "")}


def snap(t: float, requests: int = 0, hits: int = 0, rss: float = 100e6, breaker: int = 0,
         limit: float = 1e9, entries: int = 10) -> Snapshot:
    """A cumulative snapshot of one instance: ``requests`` all in the 10-25 ms bucket."""
    counts = tuple(requests if i == 2 else 0 for i in range(len(HTTP_BUCKETS) + 1))
    return Snapshot(t, {HITS: float(hits), (PROCESS_MEMORY, ()): rss, (MEMORY_LIMIT, ()): limit,
                        BREAKER: float(breaker), (CACHE_ENTRIES, ()): float(entries)},
                    {HTTP_OK: HistogramPoint(requests, 0.02 * requests, HTTP_BUCKETS, counts)}, META)


def member(name: str, snaps: list[Snapshot], started: float | None = None, left: bool = False,
           interval: float = 60.0) -> Member:
    return Member(name, f"host:{name}", snaps[0].timestamp if started is None else started, snaps[-1].timestamp,
                  interval, left, tuple(snaps), tuple(s.timestamp for s in snaps))


class FakeReader:
    def __init__(self) -> None:
        self.now = snap(T0)

    def snapshot(self, now: float | None = None) -> Snapshot:
        return self.now


class FakeCluster:
    def __init__(self, members: tuple[Member, ...] | None) -> None:
        self._members = members
        self.last_error = "ConnectionError: refused"

    def members(self) -> tuple[Member, ...] | None:
        return self._members


def monitor_with(own: list[Snapshot], fresh: Snapshot, members: tuple[Member, ...] | None) -> Monitor:
    reader = FakeReader()
    reader.now = fresh
    history = SnapshotHistory(reader, 60.0, 7 * 86400.0, clock=lambda: fresh.timestamp)  # type: ignore[arg-type]
    for s in own:
        history.record(s)
    cluster = cast(ClusterView, FakeCluster(members))
    return Monitor(history, AlertBook(build_catalog()), cluster, instance="me")


# -- the merge rule


def test_every_gauge_has_a_merge_rule_in_the_one_place_instruments_are_declared() -> None:
    telemetry = build_telemetry(TelemetryConfig(service_name="t"))
    try:
        for name in GAUGE_MERGE:
            telemetry.instruments.observe(name, lambda: [Observation(1)])
        kinds = {n: m.kind for n, m in telemetry.reader.snapshot(T0).meta.items()}
    finally:
        telemetry.shutdown()
    assert {n for n, k in kinds.items() if k == "gauge"} | {PROCESS_MEMORY} == set(GAUGE_MERGE)
    assert kinds[PROCESS_MEMORY] == "updowncounter"  # semconv's instrument; combined as the level it is
    assert GAUGE_MERGE[BREAKER_STATE] == "max" and GAUGE_MERGE[MEMORY_LIMIT] == "max"
    assert {GAUGE_MERGE[n] for n in (PROCESS_MEMORY, CACHE_MEMORY, CACHE_ENTRIES)} == {"sum"}


def test_combine_adds_counters_and_histograms_and_applies_the_gauge_rule() -> None:
    a = snap(T0, requests=3, hits=5, rss=100e6, breaker=0, limit=2e9, entries=10)
    b = snap(T0 - 1, requests=4, hits=1, rss=150e6, breaker=2, limit=1e9, entries=7)
    both = combine([(a, True), (b, True)], T0)
    assert both.timestamp == T0
    assert both.values[HITS] == 6
    h = both.histograms[HTTP_OK]
    assert (h.count, h.counts[2], h.sum) == (7, 7, pytest.approx(0.14))
    assert both.values[(PROCESS_MEMORY, ())] == 250e6  # memory adds up
    assert both.values[(CACHE_ENTRIES, ())] == 17
    assert both.values[BREAKER] == 2  # open anywhere is open
    assert both.values[(MEMORY_LIMIT, ())] == 2e9  # the shared limit, not twice it


def test_a_dead_instance_adds_its_counts_but_not_its_gauges() -> None:
    a, dead = snap(T0, requests=3, rss=100e6), snap(T0 - 600, requests=4, rss=900e6, breaker=2)
    both = combine([(a, True), (dead, False)], T0)
    assert both.histograms[HTTP_OK].count == 7
    assert both.values[(PROCESS_MEMORY, ())] == 100e6 and both.values[BREAKER] == 0


def test_liveness_of_a_member() -> None:
    m = member("b", [snap(T0 - 120), snap(T0 - 60)], interval=60.0)
    assert m.live(T0) and m.live(T0 - 60 + 180) and not m.live(T0 - 60 + 183)
    assert m.alive_at(T0, m.snapshots[-1]) and not m.alive_at(T0 + 200, m.snapshots[-1])
    gone = member("c", [snap(T0 - 120), snap(T0 - 60)], left=True)
    assert not gone.live(T0 - 59) and gone.alive_at(T0 - 60, gone.snapshots[-1])


# -- windows over merged snapshots


def random_history(rng: random.Random, start: float, end: float, step: float) -> list[Snapshot]:
    snaps, requests, hits, t = [], 0, 0, start
    while t <= end:
        snaps.append(snap(t, requests, hits))
        requests += rng.randrange(0, 20)
        hits += rng.randrange(0, 5)
        t += step
    return snaps


@pytest.mark.parametrize("seed", range(5))
def test_the_service_window_is_the_sum_of_each_instances_window(seed: int) -> None:
    rng = random.Random(seed)
    own = random_history(rng, T0 - 7200, T0, 60)
    others = [random_history(rng, T0 - 7200 + 7, T0 - 30, 60),  # older than the window
              random_history(rng, T0 - 1000 + 13, T0 - 20, 60)]  # born inside it: counted since its baseline
    members = tuple(member(f"m{i}", s) for i, s in enumerate(others))
    fresh = snap(T0 + 5, own[-1].histograms[HTTP_OK].count + 3, int(own[-1].values[HITS]) + 1)
    monitor = monitor_with(own, fresh, members)
    window = monitor.window(3600)
    start = fresh.timestamp - 3600

    def own_window() -> Window:
        old = max((s for s in own if s.timestamp <= start), key=lambda s: s.timestamp)
        return Window(old, fresh)

    expected = measure(own_window()).requests
    for m in members:
        expected += measure(Window(m.at_or_before(start) or m.snapshots[0], m.snapshots[-1])).requests
    assert measure(window).requests == expected
    assert abs(window.seconds - 3600) <= 60  # the window starts at the snapshot at or before its start
    # the trend's slices (from the first snapshot inside the window, as locally) add up
    trend = monitor.trend_windows(3600, 12)
    assert 10 <= len(trend) <= 14 and trend[0].old.timestamp >= start
    assert sum(measure(w).requests for w in trend) == measure(Window(trend[0].old, trend[-1].new)).requests
    assert all(a.new is b.old for a, b in itertools.pairwise(trend))


def test_a_window_longer_than_the_service_covers_what_it_has() -> None:
    own = [snap(T0 - 600), snap(T0 - 300, 5)]
    other = member("b", [snap(T0 - 900), snap(T0 - 400, 7)])
    window = monitor_with(own, snap(T0, 6), (other,)).window(168 * 3600)
    assert measure(window).requests == 13
    assert window.old.timestamp == T0 - 900 and window.seconds == 900


def test_one_instance_in_the_view_answers_as_the_local_history() -> None:
    own = [snap(T0 - 600 + 60 * i, 2 * i, i) for i in range(10)]
    fresh = snap(T0, 30, 12)
    local = monitor_with(own, fresh, None)
    alone = monitor_with(own, fresh, ())
    assert measure(local.window(300)) == measure(alone.window(300))
    assert [measure(w) for w in local.trend_windows(600)] == [measure(w) for w in alone.trend_windows(600)]


def test_newest_point_is_the_fresh_local_snapshot_plus_the_others_latest() -> None:
    others = (member("b", [snap(T0 - 100, 1), snap(T0 - 10, 4, rss=50e6)]),
              member("dead", [snap(T0 - 5000, 0), snap(T0 - 4000, 9, rss=70e6, breaker=2)]))
    newest = merged_newest(snap(T0, 2, rss=10e6), others)
    assert newest.timestamp == T0
    assert newest.histograms[HTTP_OK].count == 15
    assert newest.values[(PROCESS_MEMORY, ())] == 60e6 and newest.values[BREAKER] == 0
    old = merged_at(T0 - 50, snap(T0 - 60, 1), others)
    assert old.timestamp == T0 - 60 and old.histograms[HTTP_OK].count == 1 + 1 + 9


def test_alerts_are_judged_on_the_whole_service() -> None:
    # each worker alone is under 10 requests (the KPI's minimum sample); together they breach
    bad = HistogramPoint(4, 4 * 6.0, HTTP_BUCKETS, (0,) * len(HTTP_BUCKETS) + (4,))  # 4 requests over 10 s
    def slow(t: float) -> Snapshot:
        return Snapshot(t, {}, {HTTP_OK: bad}, META)
    members = (member("b", [snap(T0 - 250), slow(T0 - 5)]), member("c", [snap(T0 - 250), slow(T0 - 3)]))
    monitor = monitor_with([snap(T0 - 250)], slow(T0), members)
    assert "ApiLatencyP99High" in {a.name for a in monitor.evaluate_alerts()}
    assert monitor_with([snap(T0 - 250)], slow(T0), ()).evaluate_alerts() == []


# -- scope


def test_scope_says_whose_numbers_answer() -> None:
    members = (member("b", [snap(T0 - 4000), snap(T0 - 30, 4)]),
               member("gone", [snap(T0 - 4000), snap(T0 - 1000, 3)], left=True))
    scope: dict[str, Any] = monitor_with([snap(T0 - 4000)], snap(T0, 2), members).scope(3600)
    assert scope["source"] == "redis" and scope["workers"] == 2
    assert [(i["id"], i["live"], i["requests"]) for i in scope["instances"]] == [
        ("me", True, 2), ("b", True, 4), ("gone", False, 3)]
    local = monitor_with([snap(T0 - 60)], snap(T0, 2), None).scope(3600)
    assert local["source"] == "local" and local["workers"] == 1 and local["instances"][0]["requests"] == 2
    assert "Redis unavailable (ConnectionError: refused)" in local["note"]
