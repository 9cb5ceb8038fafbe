"""``ExportingInProcessReader``: one aggregation for the runbook snapshots and the OTLP export."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider

from instrumentation import TelemetryConfig, build_telemetry
from instrumentation.exemplars import ExemplarMemory
from instrumentation.providers import ExportingInProcessReader
from instrumentation.reader import InProcessReader


class Capture(MetricExporter):
    def __init__(self, temporality: dict[type, AggregationTemporality] | None = None) -> None:
        super().__init__(preferred_temporality=temporality)
        self.exported: list[MetricsData] = []
        self.shut_down = False

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.shut_down = True


def points(data: MetricsData, name: str) -> Sequence[HistogramDataPoint]:
    found = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == name]
    return found[0].data.data_points if found else ()  # type: ignore[return-value]


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_each_collection_is_exported_with_its_exemplars() -> None:
    exporter = Capture()
    reader = ExportingInProcessReader(exporter, interval_s=3600)
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("test").create_histogram("request.duration", unit="s")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        histogram.record(0.2, {"route": "/a"})
    snapshot = reader.snapshot()  # what the history thread does every interval
    wait_for(lambda: exporter.exported)
    (point,) = points(exporter.exported[-1], "request.duration")
    assert point.count == 1 and snapshot.histograms  # one aggregation, seen by both
    assert [e.trace_id for e in point.exemplars] == [span.get_span_context().trace_id]
    provider.shutdown()


def test_an_exemplar_stays_on_its_bucket_through_collections_without_new_requests() -> None:
    """Whoever collects in between (a runbook answer, the Pushgateway pusher), the next export still
    carries the bucket's exemplar, until a newer request in that bucket replaces it."""
    exporter = Capture()
    reader = ExportingInProcessReader(exporter, interval_s=3600)
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("test").create_histogram("request.duration", unit="s")
    tracer = TracerProvider().get_tracer("test")

    def request(seconds: float) -> int:
        with tracer.start_as_current_span("request") as span:
            histogram.record(seconds, {"route": "/a"})
        return span.get_span_context().trace_id

    def exported_traces() -> list[int]:
        count = len(exporter.exported)
        reader.snapshot()
        wait_for(lambda: len(exporter.exported) > count)
        (point,) = points(exporter.exported[-1], "request.duration")
        return sorted(e.trace_id for e in point.exemplars if e.trace_id is not None)

    slow, fast = request(30.0), request(0.004)  # buckets (25, 50] and (0, 5] of the default bounds
    assert exported_traces() == sorted([slow, fast])
    assert exported_traces() == sorted([slow, fast])  # no new request: both still there
    faster = request(0.003)  # the same bucket as `fast`: it replaces it, `slow` stays
    assert exported_traces() == sorted([slow, faster])
    provider.shutdown()


def test_a_kept_exemplar_expires() -> None:
    exporter = Capture()
    reader = ExportingInProcessReader(exporter, interval_s=3600)
    reader._exemplars = ExemplarMemory(max_age_s=0.05)
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("test").create_histogram("request.duration", unit="s")
    with TracerProvider().get_tracer("test").start_as_current_span("request"):
        histogram.record(0.2)
    reader.snapshot()
    time.sleep(0.1)
    reader.snapshot()
    wait_for(lambda: len(exporter.exported) >= 2)
    (point,) = points(exporter.exported[-1], "request.duration")
    assert list(point.exemplars) == []
    provider.shutdown()


def test_the_timer_exports_when_nothing_else_collects() -> None:
    exporter = Capture()
    provider = MeterProvider(metric_readers=[ExportingInProcessReader(exporter, interval_s=0.1)])
    provider.get_meter("test").create_counter("hits").add(3)
    wait_for(lambda: len(exporter.exported) >= 2)
    provider.shutdown()


def test_shutdown_exports_the_last_values_then_shuts_the_exporter_down() -> None:
    exporter = Capture()
    provider = MeterProvider(metric_readers=[ExportingInProcessReader(exporter, interval_s=3600)])
    provider.get_meter("test").create_histogram("late").record(1.0)
    provider.shutdown()
    assert exporter.shut_down
    assert [p.count for p in points(exporter.exported[-1], "late")] == [1]


@pytest.mark.parametrize(("preference", "shared"), [("cumulative", True), ("delta", False)])
def test_build_telemetry_shares_the_reader_only_with_a_cumulative_exporter(
        monkeypatch: pytest.MonkeyPatch, preference: str, shared: bool) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    telemetry = build_telemetry(TelemetryConfig(service_name="test", otlp_endpoint="http://127.0.0.1:9"))
    readers = telemetry.meter_provider._metric_readers
    assert isinstance(telemetry.reader, ExportingInProcessReader) is shared
    assert isinstance(telemetry.reader, InProcessReader)
    assert len(readers) == (1 if shared else 2)  # shared: each measurement aggregated once
    assert any(isinstance(r, PeriodicExportingMetricReader) for r in readers) is not shared
    telemetry.shutdown()
