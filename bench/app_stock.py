"""The bare app under the stock ``FastAPIInstrumentor`` with SDK defaults: what "just instrument it" costs.

TracerProvider + BatchSpanProcessor + OTLP/HTTP span exporter, MeterProvider + PeriodicExportingMetricReader
+ OTLP/HTTP metric exporter, all at their defaults; the endpoint comes from ``OTEL_EXPORTER_OTLP_ENDPOINT``
(the benchmark points it at its local sink). No excluded spans, no tuning: the instrumentor's defaults.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from bench.app_bare import build_app

resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "bench-stock")})
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    # Uvicorn re-raises SIGTERM after its graceful shutdown, so the SDK's atexit flush never runs:
    # without this the last batch of spans and the final metric export would be lost.
    tracer_provider.shutdown()
    meter_provider.shutdown()


app = build_app(lifespan)
FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider, meter_provider=meter_provider)
