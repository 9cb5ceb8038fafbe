"""The fast span encoder writes the message the official OTLP encoder builds, and the exporter posts it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from instrumentation import otlp_spans


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: object) -> SpanExportResult:
        self.spans.extend(spans)  # type: ignore[call-overload]
        return SpanExportResult.SUCCESS


def _spans() -> list[ReadableSpan]:
    kept = _Keep()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc", "n": 3, "ratio": 0.5,
                                                        "tags": ("a", "b"), "on": True}))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    other = TracerProvider(resource=Resource.create({"service.name": "other"}))
    other.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("scope-a", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.30.0",
                                 attributes={"scope.attr": "x"})
    server_attrs = {"http.request.method": "GET", "url.path": "/health", "server.port": 8000,
                    "user_agent.original": "curl/8 é ✓"}
    for status in (200, 200, 503):
        span = tracer.start_span("GET", kind=SpanKind.SERVER, attributes=server_attrs)
        span.set_attributes({"http.route": "/health", "http.response.status_code": status})
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, "503"))
        span.end()
    remote = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True,
                         trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "v1"), ("k", "2")]))
    with tracer.start_as_current_span("parent", context=set_span_in_context(NonRecordingSpan(remote)),
                                      kind=SpanKind.CLIENT) as parent:
        child = provider.get_tracer("scope-b").start_span(
            "child", kind=SpanKind.INTERNAL, links=[Link(parent.get_span_context(), {"link.n": -7})],
            attributes={"neg": -5, "big": 2**62, "bytes": b"\x00\xff", "ints": (1, 2, 3), "zero": 0, "empty": "",
                        "false": False, "float": 1e-9, "mixed.bools": (True, False)})
        child.add_event("retry", {"attempt": 2, "delay.s": 0.25})
        child.add_event("")
        child.set_status(Status(StatusCode.OK))
        child.end()
    other.get_tracer("scope-c").start_span("elsewhere", kind=SpanKind.PRODUCER).end()
    provider.get_tracer("scope-a", "1.2.3").start_span("consumer", kind=SpanKind.CONSUMER).end()
    return kept.spans


def test_encoding_parses_to_the_official_encoders_message() -> None:
    spans = _spans()
    mine = ExportTraceServiceRequest.FromString(otlp_spans.encode_spans(spans))
    official = official_encode(spans)
    assert mine == official
    assert len(mine.resource_spans) == 2  # grouped by resource, then by scope, as the official encoder does
    assert sum(len(s.spans) for r in mine.resource_spans for s in r.scope_spans) == len(spans)


def test_repeated_batches_from_the_caches_stay_identical() -> None:
    spans = _spans()
    first = otlp_spans.encode_spans(spans)
    assert otlp_spans.encode_spans(spans) == first


def test_an_attribute_that_cannot_be_encoded_is_skipped_like_the_official_encoder_does(
        caplog: pytest.LogCaptureFixture) -> None:
    kept = _Keep()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    span = provider.get_tracer("t").start_span("s", attributes={"ok": "yes"})
    span._attributes._dict["weird"] = object()  # type: ignore[union-attr]  # past the SDK's own validation
    span.end()
    mine = ExportTraceServiceRequest.FromString(otlp_spans.encode_spans(kept.spans))
    assert mine == official_encode(kept.spans)
    assert [a.key for a in mine.resource_spans[0].scope_spans[0].spans[0].attributes] == ["ok"]
    assert "weird" in caplog.text


@pytest.fixture
def sink() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces", bodies
    server.shutdown()
    server.server_close()


def test_the_installed_exporter_posts_the_official_message(sink: tuple[str, list[bytes]],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    url, bodies = sink
    otlp_spans.install()
    spans = _spans()
    exporter = OTLPSpanExporter(endpoint=url)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert len(bodies) == 1
    assert ExportTraceServiceRequest.FromString(bodies[0]) == official_encode(spans)
    assert "fast span encoding failed" not in caplog.text  # the fast path made it, not the fallback


@pytest.mark.parametrize("value", [2**63, 2**70, -(2**63) - 1, (1, 2**64)])
def test_integers_outside_int64_are_skipped_like_the_official_encoder_does(value: object) -> None:
    kept = _Keep()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    provider.get_tracer("t").start_span("s", attributes={"big": value, "ok": 2**63 - 1}).end()  # type: ignore[dict-item]
    mine = ExportTraceServiceRequest.FromString(otlp_spans.encode_spans(kept.spans))  # parses: nothing corrupt
    assert mine == official_encode(kept.spans)
    assert [a.key for a in mine.resource_spans[0].scope_spans[0].spans[0].attributes] == ["ok"]


def test_negative_zero_is_not_served_from_the_cache_of_zero() -> None:
    kept = _Keep()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(kept))
    for value in (0.0, -0.0):
        provider.get_tracer("t").start_span("s", attributes={"ratio": value}).end()
    encoded = otlp_spans.encode_spans(kept.spans)
    spans = ExportTraceServiceRequest.FromString(encoded).resource_spans[0].scope_spans[0].spans
    signs = [str(s.attributes[0].value.double_value) for s in spans]
    assert signs == ["0.0", "-0.0"]
