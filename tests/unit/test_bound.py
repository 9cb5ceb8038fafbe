"""Bound instruments record exactly what the SDK's own record path records, only cheaper."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import set_span_in_context

from instrumentation import Telemetry
from instrumentation.bound import bind_counter, bind_histogram

ATTRS = {"http.request.method": "GET", "http.route": "/health", "http.response.status_code": 200}
VALUES = [0.0, 0.003, 0.004, 0.02, 0.02, 0.6, 7.5, 12.0]


def _points(reader: InMemoryMetricReader) -> dict[str, list[dict[str, Any]]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[dict[str, Any]]] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found[metric.name] = [
                    {f.name: getattr(point, f.name) for f in fields(point)
                     if f.name not in ("start_time_unix_nano", "time_unix_nano", "exemplars")}
                    | {"exemplars": [(e.value, e.trace_id, e.span_id, dict(e.filtered_attributes or {}))
                                     for e in point.exemplars]}
                    for point in metric.data.data_points]
    return found


def _pair(temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) -> tuple[Any, ...]:
    temporalities = {Counter: temporality, Histogram: temporality}
    sdk_reader = InMemoryMetricReader(preferred_temporality=temporalities)
    bound_reader = InMemoryMetricReader(preferred_temporality=temporalities)
    sdk_meter = MeterProvider(metric_readers=[sdk_reader]).get_meter("t")
    bound_meter = MeterProvider(metric_readers=[bound_reader]).get_meter("t")
    return sdk_reader, sdk_meter, bound_reader, bound_meter


def test_bound_histogram_and_counter_collect_the_same_points_as_the_sdk_path() -> None:
    sdk_reader, sdk_meter, bound_reader, bound_meter = _pair()
    sdk_hist = sdk_meter.create_histogram("d", unit="s", explicit_bucket_boundaries_advisory=[0.005, 0.025, 1.0])
    sdk_count = sdk_meter.create_counter("c")
    hist = bind_histogram(bound_meter.create_histogram("d", unit="s",
                                                       explicit_bucket_boundaries_advisory=[0.005, 0.025, 1.0]), ATTRS)
    count = bind_counter(bound_meter.create_counter("c"), ATTRS)
    for value in VALUES:
        sdk_hist.record(value, ATTRS)
        hist.record(value)
        sdk_count.add(2, ATTRS)
        count.add(2)
    points = _points(bound_reader)
    assert points == _points(sdk_reader)
    assert points["d"][0]["count"] == len(VALUES) and points["d"][0]["attributes"] == ATTRS
    assert points["c"][0]["value"] == 2 * len(VALUES)


def test_a_sampled_span_leaves_the_same_exemplar_as_on_the_sdk_path() -> None:
    sdk_reader, sdk_meter, bound_reader, bound_meter = _pair()
    sdk_hist = sdk_meter.create_histogram("d")
    hist = bind_histogram(bound_meter.create_histogram("d"), ATTRS)
    span = TracerProvider().get_tracer("t").start_span("GET /health")  # sampled: the default sampler
    context = set_span_in_context(span)
    sdk_hist.record(0.042, ATTRS, context=context)
    hist.record(0.042, context)
    points = _points(bound_reader)
    assert points == _points(sdk_reader)
    exemplars = [e for p in points["d"] for e in p["exemplars"]]
    assert exemplars and exemplars[0][1] == span.get_span_context().trace_id


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_what_the_sdk_drops_is_dropped(bad: float) -> None:
    _sdk_reader, _sdk_meter, bound_reader, bound_meter = _pair()
    hist = bind_histogram(bound_meter.create_histogram("d"), ATTRS)
    count = bind_counter(bound_meter.create_counter("c"), ATTRS)
    hist.record(bad)
    count.add(bad)
    hist.record(0.5)
    count.add(1)
    points = _points(bound_reader)
    assert points["d"][0]["count"] == 1 and points["d"][0]["sum"] == 0.5
    assert points["c"][0]["value"] == 1


def test_delta_temporality_falls_back_to_the_sdk_path_and_stays_right() -> None:
    sdk_reader, sdk_meter, bound_reader, bound_meter = _pair(AggregationTemporality.DELTA)
    sdk_count = sdk_meter.create_counter("c")
    count = bind_counter(bound_meter.create_counter("c"), ATTRS)
    for _ in range(2):  # two collections: a delta aggregation is replaced at each one
        for _ in range(3):
            sdk_count.add(1, ATTRS)
            count.add(1)
        assert _points(bound_reader) == _points(sdk_reader)


def test_a_reader_added_later_sees_the_records_made_after_it() -> None:
    first = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[first])
    count = bind_counter(provider.get_meter("t").create_counter("c"), ATTRS)
    count.add(1)
    later = InMemoryMetricReader()
    provider.add_metric_reader(later)
    count.add(5)
    assert _points(first)["c"][0]["value"] == 6
    assert _points(later)["c"][0]["value"] == 5


def test_the_api_no_op_instrument_is_accepted() -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    meter = NoOpMeterProvider().get_meter("t")
    bind_histogram(meter.create_histogram("d"), ATTRS).record(1.0)
    bind_counter(meter.create_counter("c"), ATTRS).add(1)


def test_the_services_own_providers_take_the_fast_path(telemetry: Telemetry) -> None:
    """With the pinned SDK the binding resolves (no silent fallback): what the benchmark figures rely on."""
    hist = bind_histogram(telemetry.instruments.db_duration, {"db.system.name": "redis"})
    count = bind_counter(telemetry.instruments.cache_lookups, {"llm_obs.cache.result": "hit"})
    hist.record(0.001)
    count.add(3)
    assert hist._binding and hist._binding[1] and count._binding and count._binding[1]
    snap = telemetry.reader.snapshot()
    assert sum(snap.series("llm_obs.cache.lookups").values()) == 3


def test_a_bound_set_never_recorded_exports_nothing_as_on_the_sdk_path() -> None:
    sdk_reader, sdk_meter, bound_reader, bound_meter = _pair()
    sdk_meter.create_histogram("d")
    sdk_meter.create_counter("c")
    bind_histogram(bound_meter.create_histogram("d"), ATTRS)
    bind_counter(bound_meter.create_counter("c"), ATTRS)
    assert sdk_reader.get_metrics_data() is None
    assert bound_reader.get_metrics_data() is None  # no zero point for a set nothing was recorded to


def test_a_disabled_meter_records_nothing_through_a_binding() -> None:
    from opentelemetry.sdk.metrics._internal import _MeterConfig

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("t")
    counter = meter.create_counter("c")
    count = bind_counter(counter, ATTRS)
    counter._meter_config = _MeterConfig(is_enabled=False)  # what a MeterConfigurator sets
    count.add(1)
    assert reader.get_metrics_data() is None
