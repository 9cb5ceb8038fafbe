"""Windows over cumulative snapshots: deltas, resets, merges and Prometheus' histogram_quantile."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from app.monitoring.windows import Window, quantile
from instrumentation import Telemetry, TelemetryConfig, build_telemetry
from instrumentation.instruments import CACHE_LOOKUPS, CACHE_MEMORY, HTTP_SERVER_DURATION
from instrumentation.snapshot import HistogramPoint, Snapshot

from .traffic import API_ROUTE, HTTP_BUCKETS, http_histogram, request_attrs


def point(bounds: tuple[float, ...], counts: tuple[int, ...]) -> HistogramPoint:
    return HistogramPoint(sum(counts), 0.0, bounds, counts)


def prometheus_bucket_quantile(q: float, bounds: tuple[float, ...], counts: tuple[int, ...]) -> float:
    """A line-by-line port of Prometheus' ``BucketQuantile`` (promql/quantile.go) for 0 < q <= 1."""
    uppers = [*bounds, math.inf]
    cumulative = list(itertools.accumulate(counts))
    rank = q * cumulative[-1]
    # sort.Search(len(buckets)-1, func(i) bool { return buckets[i].Count >= rank })
    b = next((i for i in range(len(cumulative) - 1) if cumulative[i] >= rank), len(cumulative) - 1)
    if b == len(cumulative) - 1:
        return uppers[-2]
    if b == 0 and uppers[0] <= 0:
        return uppers[0]
    start, end, count = 0.0, uppers[b], float(cumulative[b])
    if b > 0:
        start = uppers[b - 1]
        count -= cumulative[b - 1]
        rank -= cumulative[b - 1]
    return start + (end - start) * (rank / count)


# -- quantile


def test_quantile_interpolates_linearly_inside_the_bucket() -> None:
    # 10 observations in (1, 2]: the median is half-way through that bucket.
    assert quantile(0.5, point((1.0, 2.0, 4.0), (0, 10, 0, 0))) == pytest.approx(1.5)
    # rank 9.5 of 10 -> 95 % of the way through (1, 2]
    assert quantile(0.95, point((1.0, 2.0, 4.0), (0, 10, 0, 0))) == pytest.approx(1.95)


def test_quantile_first_bucket_starts_at_zero() -> None:
    assert quantile(0.5, point((1.0, 2.0), (4, 0, 0))) == pytest.approx(0.5)
    assert quantile(0.25, point((0.1, 1.0), (8, 0, 0))) == pytest.approx(0.025)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert quantile(0.5, point((1.0, 2.0), (0, 0, 5))) == 2.0
    # rank 9.9 of 10 lands in +Inf: Prometheus answers the highest finite bound, not infinity
    assert quantile(0.99, point((1.0, 2.0), (9, 0, 1))) == 2.0


def test_quantile_of_nothing_is_zero() -> None:
    assert quantile(0.95, None) == 0.0
    assert quantile(0.95, point((1.0, 2.0), (0, 0, 0))) == 0.0


def test_quantile_across_buckets_matches_hand_computation() -> None:
    # 90 in (0.1, 0.25], 10 in (2.5, 5]: P50 = 0.1 + 0.15 * 50/90, P95 = 2.5 + 2.5 * 5/10
    counts = (0, 0, 0, 0, 0, 0, 90, 0, 0, 0, 0, 10, 0, 0, 0)
    p = point(HTTP_BUCKETS, counts)
    assert quantile(0.5, p) == pytest.approx(0.1 + 0.15 * 50 / 90)
    assert quantile(0.95, p) == pytest.approx(3.75)
    assert quantile(0.99, p) == pytest.approx(4.75)


def test_quantile_matches_prometheus_on_random_histograms() -> None:
    rng = random.Random(20240601)
    for _ in range(500):
        bounds = tuple(sorted(rng.sample([0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 30.0], rng.randint(1, 9))))
        counts = tuple(rng.choice([0, 0, 1, 3, 17]) for _ in range(len(bounds) + 1))
        if sum(counts) == 0:
            continue
        q = rng.choice([0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0])
        expected = prometheus_bucket_quantile(q, bounds, counts)
        assert quantile(q, point(bounds, counts)) == pytest.approx(expected), (q, bounds, counts)


# -- deltas between two real snapshots


def test_counter_delta_is_what_was_added_between_the_snapshots(telemetry: Telemetry) -> None:
    lookups = telemetry.instruments.cache_lookups
    hit = {"llm_obs.cache.result": "hit", "llm_obs.cache.tier": "memory", "llm_obs.operation": "summarize"}
    miss = {"llm_obs.cache.result": "miss", "llm_obs.cache.tier": "none", "llm_obs.operation": "summarize"}
    lookups.add(5, hit)  # before the window: not counted
    old = telemetry.reader.snapshot(1000.0)
    lookups.add(3, hit)
    lookups.add(2, miss)
    new = telemetry.reader.snapshot(1060.0)

    window = Window(old, new)
    assert window.seconds == 60.0
    assert window.counter(CACHE_LOOKUPS) == 5
    assert window.counter(CACHE_LOOKUPS, lambda a: a["llm_obs.cache.result"] == "hit") == 3
    assert window.counter_by(CACHE_LOOKUPS, "llm_obs.cache.result") == {"hit": 3, "miss": 2}


def test_a_series_born_inside_the_window_counts_from_zero(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    telemetry.instruments.retry_attempts.add(4, {"llm_obs.operation": "qa"})
    window = Window(old, telemetry.reader.snapshot(30.0))
    assert window.counter("llm_obs.retry.attempts") == 4


def test_histogram_delta_holds_only_the_window_observations(telemetry: Telemetry) -> None:
    hist = http_histogram(telemetry)
    hist.record(9.0, request_attrs())  # before the window
    old = telemetry.reader.snapshot(100.0)
    for _ in range(4):
        hist.record(0.2, request_attrs())
    new = telemetry.reader.snapshot(400.0)

    delta = Window(old, new).histogram(HTTP_SERVER_DURATION)
    assert delta is not None
    assert delta.count == 4
    assert delta.sum == pytest.approx(0.8)
    assert delta.bounds == HTTP_BUCKETS
    assert delta.counts[HTTP_BUCKETS.index(0.25)] == 4
    assert sum(delta.counts) == 4
    assert quantile(0.99, delta) < 0.25  # the 9 s request before the window is not in it


def test_histogram_merges_matching_series_only(telemetry: Telemetry) -> None:
    hist = http_histogram(telemetry)
    old = telemetry.reader.snapshot(0.0)
    for _ in range(6):
        hist.record(0.02, request_attrs(API_ROUTE, 200))
    for _ in range(2):
        hist.record(0.6, request_attrs(API_ROUTE, 500))
    hist.record(0.6, request_attrs("/v1/text_processing/batch", 503))
    hist.record(3.0, request_attrs("/health", 500, "GET"))
    window = Window(old, telemetry.reader.snapshot(60.0))

    def api_errors(attrs: dict[str, object]) -> bool:
        return str(attrs["http.route"]).startswith("/v1/") and int(attrs["http.response.status_code"]) >= 500  # type: ignore[call-overload]

    merged = window.histogram(HTTP_SERVER_DURATION, api_errors)
    assert merged is not None
    assert merged.count == 3  # two 500s on /process and one 503 on /batch, merged
    assert merged.counts[HTTP_BUCKETS.index(0.75)] == 3
    assert window.histogram(HTTP_SERVER_DURATION, lambda a: a["http.route"] == "/nowhere") is None
    by_route = window.histogram_by(HTTP_SERVER_DURATION, "http.route")
    assert {route: p.count for route, p in by_route.items()} == {
        API_ROUTE: 8, "/v1/text_processing/batch": 1, "/health": 1}


def test_gauge_is_the_newest_value_summed(telemetry: Telemetry) -> None:
    from opentelemetry.metrics import Observation

    level = {"memory": 1000}
    telemetry.instruments.observe(CACHE_MEMORY, lambda: [Observation(level["memory"],
                                                                     {"llm_obs.cache.tier": "memory"})])
    old = telemetry.reader.snapshot(0.0)
    level["memory"] = 2500
    window = Window(old, telemetry.reader.snapshot(60.0))
    assert window.gauge(CACHE_MEMORY) == 2500


def _fresh() -> Telemetry:
    return build_telemetry(TelemetryConfig(service_name="restarted"))


def test_counter_reset_counts_from_zero_like_prometheus_rate() -> None:
    """A restart between two snapshots: the counter drops, and the window takes the new value."""
    before, after = _fresh(), _fresh()
    try:
        attrs = {"llm_obs.operation": "summarize"}
        before.instruments.retry_attempts.add(10, attrs)
        after.instruments.retry_attempts.add(3, attrs)
        window = Window(before.reader.snapshot(0.0), after.reader.snapshot(60.0))
        assert window.counter("llm_obs.retry.attempts") == 3
        assert window.counter_by("llm_obs.retry.attempts", "llm_obs.operation") == {"summarize": 3}
    finally:
        before.shutdown()
        after.shutdown()


def test_histogram_reset_counts_from_zero() -> None:
    before, after = _fresh(), _fresh()
    try:
        for _ in range(10):
            http_histogram(before).record(0.01, request_attrs())
        for _ in range(2):
            http_histogram(after).record(0.3, request_attrs())
        delta = Window(before.reader.snapshot(0.0), after.reader.snapshot(60.0)).histogram(HTTP_SERVER_DURATION)
        assert delta is not None
        assert delta.count == 2
        assert min(delta.counts) >= 0
    finally:
        before.shutdown()
        after.shutdown()


def test_window_of_reversed_snapshots_has_no_negative_length() -> None:
    assert Window(Snapshot(100.0), Snapshot(40.0)).seconds == 0.0
