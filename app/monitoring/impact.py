"""The measured cost of the instrumentation per request.

Two measurements, multiplied: what one span, one histogram record and one counter add cost on this
machine (timed in-process, once), and how many of each a request made in the window (counted from the
snapshot history). The primitives are timed on twin providers built like the app's (its sampler, a
batch span processor when spans are exported, as many metric readers), so the probe adds nothing to
the telemetry operators read. Records are timed bound (``instrumentation.bound``), the path of every
record a request makes on its way (HTTP duration, cache lookups and durations, Redis); the few made
once per LLM call (GenAI duration and tokens, the HTTPX client's) or per retry take the SDK's own path,
about 10 µs more each, and are priced low here: on cache misses the figure is a floor.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Sampler

from app.monitoring.reports import UNITS, iso
from app.monitoring.windows import Window, mean
from instrumentation import instruments as names
from instrumentation.bound import bind_counter, bind_histogram
from instrumentation.scope import scoped_meter, scoped_tracer

# The instruments whose every record stands for one span: the server span, and the client spans of
# the HTTPX, Redis and GenAI instrumentation (HTTPX names its histogram itself, hence the literal).
HTTP_CLIENT_DURATION = "http.client.request.duration"
SPAN_HISTOGRAMS = (names.HTTP_SERVER_DURATION, HTTP_CLIENT_DURATION, names.DB_DURATION, names.GENAI_DURATION)
# The ASGI instrumentation adds +1 and -1 to this up-down counter around every request; its cumulative
# value cannot show how many adds were made, so they are counted from the requests.
ACTIVE_REQUESTS = "http.server.active_requests"
# DESIGN.md, "The telemetry budget per request": about 100 µs keeps 0.70 of bare throughput.
BUDGET_US_PER_REQUEST = 100.0
# Attributes like a request's: small, built once and reused, as the app records them.
_ATTRS: dict[str, str | int] = {"http.request.method": "POST", "http.route": "/v1/text_processing/process",
          "http.response.status_code": 200, "url.scheme": "http"}
_HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


@dataclass(frozen=True)
class TelemetryCosts:
    span_us: float  # one span started and ended, sampled as the app's sampler decides
    histogram_record_us: float
    counter_add_us: float
    samples: int  # of each primitive
    sampler: str
    span_processor: str
    metric_readers: int
    measured_at: float


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _median_us(action: Callable[[], object], rounds: int, per_round: int) -> float:
    """Median over rounds of the mean time per call: robust to a round that lost the CPU."""
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            action()
        means.append((time.perf_counter() - start) / per_round * 1e6)
    return round(statistics.median(means), 3)


def measure_costs(resource: Resource, sampler: Sampler, spans_exported: bool, metric_readers: int,
                  rounds: int = 5, per_round: int = 200) -> TelemetryCosts:
    """Time the SDK primitives on providers built like the app's. CPU-bound: run it off the event loop."""
    tracer_provider = TracerProvider(resource=resource, sampler=sampler)
    if spans_exported:
        tracer_provider.add_span_processor(BatchSpanProcessor(_Discard()))
    meter_provider = MeterProvider(resource=resource,
                                   metric_readers=[InMemoryMetricReader() for _ in range(max(1, metric_readers))])
    try:
        tracer = scoped_tracer(tracer_provider, "app.monitoring.impact")
        meter = scoped_meter(meter_provider, "app.monitoring.impact")
        instrument = meter.create_histogram("probe.duration", unit="s",
                                            explicit_bucket_boundaries_advisory=_HTTP_BUCKETS)
        # Bound, as the app's per-request instruments are (instrumentation/bound.py): the path they take.
        histogram = bind_histogram(instrument, _ATTRS)
        counter = bind_counter(meter.create_counter("probe.count"), _ATTRS)

        def span() -> None:
            with tracer.start_as_current_span("probe", attributes=_ATTRS):
                pass

        return TelemetryCosts(
            span_us=_median_us(span, rounds, per_round),
            histogram_record_us=_median_us(lambda: histogram.record(0.1), rounds, per_round),
            counter_add_us=_median_us(lambda: counter.add(1), rounds, per_round),
            samples=rounds * per_round, sampler=sampler.get_description(),
            span_processor="BatchSpanProcessor" if spans_exported else "none (spans are not exported)",
            metric_readers=max(1, metric_readers), measured_at=time.time())
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


@dataclass(frozen=True)
class RequestTelemetry:
    """What the requests of a window made, counted from the snapshot history."""

    requests: int
    spans: int
    histogram_records: int
    counter_adds: int
    updown_adds: int
    mean_request_ms: float


def request_telemetry(window: Window) -> RequestTelemetry:
    server = window.histogram(names.HTTP_SERVER_DURATION)
    requests = server.count if server else 0
    meta = window.new.meta
    histograms = sum(p.count for n, k in meta.items() if k.kind == "histogram" and (p := window.histogram(n)))
    counters = sum(window.counter(n) for n, k in meta.items() if k.kind == "counter")
    spans = sum(p.count for n in SPAN_HISTOGRAMS if (p := window.histogram(n)))
    updown = 2 * requests if ACTIVE_REQUESTS in meta else 0
    return RequestTelemetry(requests, spans, histograms, int(counters), updown, round(mean(server) * 1000, 3))


def impact_report(costs: TelemetryCosts, made: RequestTelemetry, window: Window, history_collect_ms: float,
                  interval_s: float) -> dict[str, Any]:
    """``GET performance-impact``: µs of telemetry per request, its share of the mean request, advice."""
    n = made.requests

    def per(count: int) -> float:
        return round(count / n, 3) if n else 0.0

    spans_us = per(made.spans) * costs.span_us
    metrics_us = (per(made.histogram_records) * costs.histogram_record_us
                  + per(made.counter_adds + made.updown_adds) * costs.counter_add_us)
    total_us = round(spans_us + metrics_us, 3)
    percent = round(100 * total_us / (made.mean_request_ms * 1000), 3) if made.mean_request_ms > 0 else 0.0
    history_percent = round(100 * history_collect_ms / (interval_s * 1000), 4) if interval_s > 0 else 0.0
    advice = []
    if n and total_us > BUDGET_US_PER_REQUEST:
        if spans_us >= metrics_us and "AlwaysOn" in costs.sampler:
            advice.append("spans are most of the cost and every trace is sampled: set OTEL_TRACES_SAMPLER="
                          "parentbased_traceidratio and OTEL_TRACES_SAMPLER_ARG (e.g. 0.1)")
        if metrics_us > spans_us:
            advice.append("metric records are most of the cost: drop unused instruments or attributes")
    if history_percent > 1.0:
        advice.append(f"the history collection takes {history_percent:g}% of its interval: raise "
                      f"METRICS_EXPORT_INTERVAL (now {interval_s:g} s)")
    if not advice:
        advice.append(f"no action needed: telemetry costs {total_us:g} µs per request ({percent:g}% of the mean "
                      f"request), within the {BUDGET_US_PER_REQUEST:g} µs budget; spans are "
                      + ("batched off the request path" if "Batch" in costs.span_processor else "not exported"))
    return {
        "window": {"start": iso(window.old.timestamp), "end": iso(window.new.timestamp),
                   "covered_seconds": round(window.seconds, 3)},
        "units": {**UNITS, "cost": "us"},
        "per_request": {
            "requests": n, "spans": per(made.spans), "histogram_records": per(made.histogram_records),
            "counter_adds": per(made.counter_adds + made.updown_adds),
            "telemetry_us": total_us, "spans_us": round(spans_us, 3), "metrics_us": round(metrics_us, 3),
            "mean_request_ms": made.mean_request_ms, "percent_of_request": percent,
        },
        "budget": {"us_per_request": BUDGET_US_PER_REQUEST, "within_budget": total_us <= BUDGET_US_PER_REQUEST},
        "per_operation_us": {"span": costs.span_us, "histogram_record": costs.histogram_record_us,
                             "counter_add": costs.counter_add_us},
        "background": {"history_collection_ms": round(history_collect_ms, 3), "interval_seconds": interval_s,
                       "percent_of_interval": history_percent,
                       "note": "collected on its own thread, off the request path"},
        "measurement": {**asdict(costs), "measured_at": iso(costs.measured_at),
                        "method": "primitives timed in-process on twin providers built like the app's; "
                                  "counts per request from the snapshot history over the window"},
        "recommendations": advice,
        "note": "per-request counts are over every server request in the window; none yet gives zeros",
    }
