"""The frontend's OpenTelemetry wiring: a TracerProvider for ``llm-frontend`` and HTTPX instrumented,
so every call to the backend carries W3C trace context (``traceparent``).

Spans are exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
variable) is set; without it the frontend still makes trace ids and propagates them, so the backend's
spans and logs of one click share the id shown on the page. Telemetry never breaks a request: a
Collector that is away costs a logged export warning, nothing else.
"""

from __future__ import annotations

import logging
import os

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_log = logging.getLogger(__name__)
SERVICE_NAME = "llm-frontend"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def _opt_in_stable_http_semconv() -> None:
    """Stable HTTP attribute names on the client spans, as the backend uses (read on first use)."""
    current = [v.strip() for v in os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",") if v.strip()]
    if "http" not in current and "http/dup" not in current:
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = ",".join([*current, "http"])


def build_tracer_provider() -> TracerProvider:
    """A TracerProvider with the OTLP/HTTP exporter when an endpoint is configured.

    ``OTEL_SERVICE_NAME`` overrides the service name; ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``
    and the other standard variables work as the SDK documents them.
    """
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "").strip() or SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return provider
    if any(os.environ.get(v, "").strip() for v in _ENDPOINT_VARS):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except Exception:  # bad exporter configuration: warn and run without export
            _log.warning("OTLP span exporter not configured; spans are not exported", exc_info=True)
    return provider


def instrument_client(client: httpx.Client, provider: TracerProvider) -> None:
    """A CLIENT span per request on this client, and ``traceparent`` injected into its headers."""
    _opt_in_stable_http_semconv()
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)
