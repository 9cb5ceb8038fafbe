"""The full app with its telemetry switched off: what the service itself costs, before any telemetry.

``full`` minus this app is the telemetry's share alone; bare minus this app is what the service's own
structure costs (its middlewares, dependencies, routers, processor) beside the minimal routes of ``bare``.

Off means: ``HTTP_INSTRUMENTATION=off`` (no server span, no HTTP record), a TracerProvider with an always-off
sampler and no span processor, a MeterProvider with no reader (the cache instruments are still called, as the
SDK runs them when nothing reads) and no history thread.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from app.main import VERSION, create_app
from app.settings import Settings
from instrumentation.instruments import Instruments
from instrumentation.providers import SCOPE, Telemetry, TelemetryConfig, build_resource
from instrumentation.reader import InProcessReader, SnapshotHistory

settings = Settings(http_instrumentation="off", enable_monitoring=False)
resource = build_resource(TelemetryConfig(service_name=settings.otel_service_name, service_version=VERSION))
meter_provider = MeterProvider(resource=resource, metric_readers=[])
reader = InProcessReader()  # registered nowhere, never collected: the history does not run
telemetry = Telemetry(resource, TracerProvider(resource=resource, sampler=ALWAYS_OFF), meter_provider, reader,
                      SnapshotHistory(reader, 60.0, 3600.0), Instruments(meter_provider.get_meter(SCOPE)))
app = create_app(settings, telemetry)
