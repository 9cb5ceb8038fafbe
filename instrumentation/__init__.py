"""OpenTelemetry wiring for a FastAPI service; importable by any app, imports nothing from ``app``."""

from instrumentation._semconv import ensure_stable_semconv

ensure_stable_semconv()

from instrumentation.providers import Telemetry, TelemetryConfig, build_telemetry  # noqa: E402

__all__ = ["Telemetry", "TelemetryConfig", "build_telemetry"]
