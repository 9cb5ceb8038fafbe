"""Resource, TracerProvider and MeterProvider: one of each, built explicitly, never set globally.

The MeterProvider carries two readers: the OTLP one (when export is on) and the in-process reader
whose snapshots feed the runbook endpoints, so ``curl | jq`` and Grafana read the same measurements.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from instrumentation.export import ExportStatus, GuardedMetricExporter, GuardedSpanExporter
from instrumentation.instruments import Instruments
from instrumentation.reader import InProcessReader, SnapshotHistory

SCOPE = "llm-text-service"


@dataclass(frozen=True)
class TelemetryConfig:
    service_name: str
    service_version: str = "0.1.0"
    environment: str = "development"
    otlp_endpoint: str | None = None  # None: no OTLP export
    otlp_protocol: str = "http/protobuf"
    history_interval_s: float = 60.0
    history_retention_s: float = 168 * 3600.0
    extra_span_exporters: tuple[SpanExporter, ...] = ()  # tests: InMemorySpanExporter
    extra_metric_readers: tuple[MetricReader, ...] = ()


@dataclass
class Telemetry:
    resource: Resource
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    reader: InProcessReader
    history: SnapshotHistory
    instruments: Instruments
    export_status: list[ExportStatus] = field(default_factory=list)

    def start(self) -> None:
        self.history.start()

    def shutdown(self) -> None:
        self.history.stop()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=5_000)


def build_resource(config: TelemetryConfig) -> Resource:
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which win over ours.
    return Resource.create({
        "service.name": config.service_name,
        "service.version": config.service_version,
        "service.instance.id": str(uuid.uuid4()),  # one per process: worker sums stay right
        "deployment.environment.name": config.environment,
    })


def _otlp_exporters(config: TelemetryConfig) -> tuple[SpanExporter, MetricExporter, str]:
    endpoint = (config.otlp_endpoint or "").rstrip("/")
    if config.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetric
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpan

        target = endpoint or None
        return GrpcSpan(endpoint=target, insecure=True), GrpcMetric(endpoint=target, insecure=True), \
            endpoint or "default gRPC endpoint"
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetric
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpan

    # With an explicit base endpoint the HTTP exporters need the signal paths appended.
    span = HttpSpan(endpoint=f"{endpoint}/v1/traces" if endpoint else None)
    metric = HttpMetric(endpoint=f"{endpoint}/v1/metrics" if endpoint else None)
    return span, metric, endpoint or "http://localhost:4318"


def build_telemetry(config: TelemetryConfig) -> Telemetry:
    resource = build_resource(config)
    tracer_provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
    reader = InProcessReader()
    readers: list[MetricReader] = [reader, *config.extra_metric_readers]
    statuses: list[ExportStatus] = []
    if config.otlp_endpoint is not None:
        span_exporter, metric_exporter, shown = _otlp_exporters(config)
        span_status, metric_status = ExportStatus("traces", shown), ExportStatus("metrics", shown)
        statuses += [span_status, metric_status]
        tracer_provider.add_span_processor(BatchSpanProcessor(GuardedSpanExporter(span_exporter, span_status)))
        interval_ms = None if "OTEL_METRIC_EXPORT_INTERVAL" in os.environ else config.history_interval_s * 1000
        readers.append(PeriodicExportingMetricReader(
            GuardedMetricExporter(metric_exporter, metric_status), export_interval_millis=interval_ms))
    for exporter in config.extra_span_exporters:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    instruments = Instruments(meter_provider.get_meter(SCOPE))
    history = SnapshotHistory(reader, config.history_interval_s, config.history_retention_s)
    return Telemetry(resource, tracer_provider, meter_provider, reader, history, instruments, statuses)
