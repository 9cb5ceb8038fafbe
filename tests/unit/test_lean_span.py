"""The lean server span against the SDK's own: what the exporter receives must be the same message.

Each scenario runs twice on fresh, identical providers (the same deterministic ids, the same sampler): once
with ``Tracer.start_span`` and once with ``LeanTracer.start_span``; the exported spans are encoded with the
official OTLP encoder and compared, timestamps aside (each path reads its own clock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import pytest
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AnyValue

from instrumentation.lean_span import SDK_PIN, LeanSpan, LeanTracer

ATTRS: Mapping[str, AnyValue] = {
    "http.request.method": "GET", "url.path": "/health", "url.scheme": "http", "server.port": 8000,
    "network.protocol.version": "1.1", "client.address": "127.0.0.1"}


class CountingIds(IdGenerator):
    """The same ids in the same order for both runs."""

    def __init__(self) -> None:
        self.n = 0

    def generate_span_id(self) -> int:
        self.n += 1
        return self.n

    def generate_trace_id(self) -> int:
        self.n += 1
        return (self.n * 0x9E3779B97F4A7C15_9E3779B97F4A7C15) % (1 << 128) or 1  # spread over the ratio sampler


Scenario = Callable[[Span], None]


def _run(scenario: Scenario, lean: bool, *, sampler: Sampler | None = None, limits: SpanLimits | None = None,
         context: Context | None = None, spans: int = 1) -> tuple[list[ReadableSpan], list[Span]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "equivalence"}), id_generator=CountingIds(),
                              sampler=sampler, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("instrumentation.asgi", "1.0", schema_url="https://opentelemetry.io/schemas/1.44.0")
    lean_tracer = LeanTracer(tracer)
    started = []
    for _ in range(spans):
        if lean:
            assert lean_tracer.lean
            span = lean_tracer.start_span("GET", context, SpanKind.SERVER, dict(ATTRS))
        else:
            span = tracer.start_span("GET", context=context, kind=SpanKind.SERVER, attributes=dict(ATTRS))
        scenario(span)
        started.append(span)
    return list(exporter.get_finished_spans()), started


def _message(spans: list[ReadableSpan]) -> ExportTraceServiceRequest:
    message = encode_spans(spans)
    for resource_spans in message.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.start_time_unix_nano = span.end_time_unix_nano = 0
                for event in span.events:
                    event.time_unix_nano = 0
    return message


def _same(scenario: Scenario, **kwargs: object) -> list[ReadableSpan]:
    official, _ = _run(scenario, False, **kwargs)  # type: ignore[arg-type]
    lean, _ = _run(scenario, True, **kwargs)  # type: ignore[arg-type]
    assert _message(lean) == _message(official)
    assert [s.dropped_attributes for s in lean] == [s.dropped_attributes for s in official]
    return lean


def _request(span: Span) -> None:
    span.update_name("GET /health")
    span.set_attributes({"http.response.status_code": 200, "http.route": "/health"})
    span.end()


def _failed(span: Span) -> None:
    span.update_name("POST /v1/text_processing/process")
    span.set_attributes({"http.response.status_code": 500, "http.route": "/v1/text_processing/process",
                         "error.type": "ValueError"})
    span.set_status(Status(StatusCode.ERROR, "ValueError"))
    try:
        raise ValueError("boom")
    except ValueError as error:
        span.record_exception(error)
    span.end()


def _odd_values(span: Span) -> None:
    span.set_attribute("llm_obs.tags", ["a", "b"])  # a sequence: the SDK makes it a tuple
    span.set_attribute("http.route", "/x")
    span.set_attribute("url.path", "/moved")  # set again: moves to the end, as in BoundedAttributes
    span.set_attributes({"llm_obs.none": None, "llm_obs.n": 3})
    span.end()


def _plain_updates(span: Span) -> None:
    span.set_attribute("url.path", "/moved")  # set again: moves to the end, as in BoundedAttributes
    span.set_status(Status(StatusCode.UNSET))  # ignored
    span.set_attributes({"http.response.status_code": 503, "url.scheme": "https"})
    span.set_status(Status(StatusCode.ERROR, "503"))
    span.set_status(Status(StatusCode.UNSET))  # ignored: an error stays an error
    span.end()


def _status_rules(span: Span) -> None:
    span.set_status(StatusCode.UNSET)
    span.set_status(StatusCode.OK)
    span.set_status(Status(StatusCode.ERROR, "ignored after OK"))
    span.end()
    span.set_attribute("after.end", 1)
    span.update_name("after end")
    span.set_status(StatusCode.ERROR)
    span.end()


def _events_and_links(span: Span) -> None:
    span.set_attribute("http.route", "/health")
    span.add_event("cache.miss", {"key": "k1"})
    span.add_link(SpanContext(7, 8, is_remote=True, trace_flags=TraceFlags(1)), {"link.kind": "batch"})
    span.end()


def _mixed_status_description(span: Span) -> None:
    span.set_status(Status(StatusCode.ERROR, "first"), "a description beside a Status: ignored by the SDK")
    span.end()


@pytest.mark.parametrize("scenario", [_request, _failed, _plain_updates, _odd_values, _status_rules, _events_and_links,
                                      _mixed_status_description])
def test_the_exporter_receives_the_same_message(scenario: Scenario) -> None:
    _same(scenario)


def test_only_the_plain_request_stays_on_the_fast_path() -> None:
    _, plain = _run(_request, True)
    _, updated = _run(_plain_updates, True)
    _, failed = _run(_failed, True)
    assert isinstance(updated[0], LeanSpan) and updated[0]._sdk is None
    assert isinstance(plain[0], LeanSpan) and plain[0]._sdk is None
    assert isinstance(failed[0], LeanSpan) and failed[0]._sdk is not None  # the exception: the SDK's span


def test_a_full_attribute_table_drops_the_oldest_as_the_sdk_does() -> None:
    def many(span: Span) -> None:
        for n in range(6):
            span.set_attribute(f"extra.{n}", n)
        span.end()

    lean = _same(many, limits=SpanLimits(max_span_attributes=8))
    assert lean[0].dropped_attributes == 4


def test_remote_parent_and_trace_state_as_the_sdk() -> None:
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
               "tracestate": "vendor=abc,other=1"}
    lean = _same(_request, context=propagate.extract(carrier))
    assert lean[0].parent is not None and lean[0].parent.is_remote
    assert lean[0].context is not None and lean[0].context.trace_state.get("vendor") == "abc"


def test_the_sampler_decides_the_same_spans() -> None:
    sampler = ParentBased(TraceIdRatioBased(0.3))
    official, _ = _run(_request, False, sampler=sampler, spans=60)
    lean, started = _run(_request, True, sampler=sampler, spans=60)
    assert 5 < len(lean) < 55  # some kept, some not
    assert _message(lean) == _message(official)
    assert all(isinstance(s, NonRecordingSpan) for s in started if not s.get_span_context().trace_flags.sampled)


def test_an_unsampled_remote_parent_and_always_off_give_no_span() -> None:
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}
    for kwargs in ({"context": propagate.extract(carrier)}, {"sampler": ALWAYS_OFF}):
        official, o_started = _run(_request, False, **kwargs)
        lean, l_started = _run(_request, True, **kwargs)
        assert official == lean == []
        assert o_started[0].get_span_context() == l_started[0].get_span_context()


def test_the_sdk_span_metrics_count_lean_spans_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")

    def points(lean: bool) -> dict[str, list[tuple[dict[str, object], float]]]:
        reader = InMemoryMetricReader()
        provider = TracerProvider(meter_provider=MeterProvider(metric_readers=[reader]))
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        tracer = provider.get_tracer("instrumentation.asgi")
        for n in range(3):
            span = (LeanTracer(tracer).start_span("GET", None, SpanKind.SERVER, ATTRS) if lean
                    else tracer.start_span("GET", kind=SpanKind.SERVER, attributes=ATTRS))
            if n:
                span.end()  # one left live
        data = reader.get_metrics_data()
        assert data is not None
        return {m.name: sorted((dict(p.attributes or {}), p.value) for p in m.data.data_points)  # type: ignore[union-attr]
                for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}

    official = points(False)
    assert official and points(True) == official


def test_another_sdk_version_or_processor_takes_the_sdk_path() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    tracer = provider.get_tracer("instrumentation.asgi")
    assert LeanTracer(tracer).lean
    other = LeanTracer(tracer, sdk_version=SDK_PIN + ".post-other")
    assert not other.lean
    assert isinstance(other.start_span("GET", None, SpanKind.SERVER, ATTRS), SdkSpan)

    class Watching(SpanProcessor):  # wants on_start: the lean span would never be seen starting
        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            pass

    lean = LeanTracer(tracer)
    provider.add_span_processor(Watching())
    assert not lean.lean
    assert isinstance(lean.start_span("GET", None, SpanKind.SERVER, ATTRS), SdkSpan)


def test_an_attribute_length_limit_takes_the_sdk_path() -> None:
    provider = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=4))
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert not LeanTracer(provider.get_tracer("instrumentation.asgi")).lean


def test_a_failing_lean_start_falls_back_to_the_sdk(caplog: pytest.LogCaptureFixture) -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lean = LeanTracer(provider.get_tracer("instrumentation.asgi"))

    def broken(*args: object) -> Span:
        raise RuntimeError("an SDK internal moved")

    lean._start = broken  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.WARNING, logger="instrumentation.lean_span"):
        span = lean.start_span("GET", None, SpanKind.SERVER, ATTRS)
        span.end()
    assert isinstance(span, SdkSpan) and len(exporter.get_finished_spans()) == 1
    assert "lean server span failed" in caplog.text and not lean.lean


def test_code_reading_the_current_span_sees_what_the_sdk_span_shows() -> None:
    _, (span,) = _run(lambda s: None, True)
    assert isinstance(span, LeanSpan)
    span.set_attribute("http.route", "/health")
    assert span.attributes["http.route"] == "/health" and span.name == "GET" and span.is_recording()
    assert span.kind is SpanKind.SERVER and span.status.status_code is StatusCode.UNSET and span.events == ()
    span.end()
    assert not span.is_recording() and span.end_time is not None
    assert "LeanSpan" in repr(span)
