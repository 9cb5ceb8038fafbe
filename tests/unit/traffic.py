"""Traffic recorded through the real instruments, as the FastAPI instrumentor and the app record it."""

from __future__ import annotations

from opentelemetry.metrics import Histogram

from instrumentation import Telemetry
from instrumentation.instruments import HTTP_SERVER_DURATION

API_ROUTE = "/v1/text_processing/process"
# What the stable-semconv HTTP instrumentation advises for http.server.request.duration.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def http_histogram(telemetry: Telemetry) -> Histogram:
    """``http.server.request.duration`` on the app's MeterProvider, as the FastAPI instrumentor makes it."""
    return telemetry.meter_provider.get_meter("test").create_histogram(
        HTTP_SERVER_DURATION, unit="s", description="Duration of HTTP server requests.",
        explicit_bucket_boundaries_advisory=list(HTTP_BUCKETS))


def request_attrs(route: str = API_ROUTE, status: int = 200, method: str = "POST") -> dict[str, str | int]:
    return {"http.request.method": method, "http.route": route, "http.response.status_code": status}
