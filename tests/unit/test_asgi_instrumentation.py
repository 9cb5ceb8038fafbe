"""``LeanHTTPMiddleware``: one SERVER span and one ``http.server.request.duration`` record per request,
on the stable HTTP semantic conventions, with the route template and the caller's trace context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import Telemetry, TelemetryConfig, build_telemetry
from instrumentation.asgi import HTTP_DURATION_BUCKETS
from instrumentation.auto import HttpMode, instrument_fastapi
from instrumentation.instruments import HTTP_SERVER_DURATION

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
METRIC_KEYS = {"http.request.method", "http.route", "http.response.status_code", "url.scheme",
               "network.protocol.version"}


class Harness:
    def __init__(self, telemetry: Telemetry, spans: InMemorySpanExporter, metrics: InMemoryMetricReader,
                 mode: HttpMode = "lean") -> None:
        self.telemetry, self.spans, self.metrics = telemetry, spans, metrics
        app = FastAPI()
        tracer = telemetry.tracer_provider.get_tracer("test")

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, Any]:
            with tracer.start_as_current_span("child"):
                return {"id": item_id}

        @app.get("/unavailable")
        async def unavailable() -> JSONResponse:
            return JSONResponse({"detail": "down"}, status_code=503)

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("the handler failed")

        instrument_fastapi(app, telemetry, mode)
        self.client = TestClient(app, raise_server_exceptions=False)

    def server_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.kind == SpanKind.SERVER]

    def duration_points(self) -> list[HistogramDataPoint]:
        data = self.metrics.get_metrics_data()
        found: list[Metric] = [m for rm in (data.resource_metrics if data else ()) for sm in rm.scope_metrics
                               for m in sm.metrics if m.name == HTTP_SERVER_DURATION]
        assert len(found) <= 1
        points = list(found[0].data.data_points) if found else []
        assert all(isinstance(p, HistogramDataPoint) for p in points)
        return points  # type: ignore[return-value]


def attributes(point: HistogramDataPoint) -> dict[str, Any]:
    return dict(point.attributes or {})


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS",
                 "OTEL_PYTHON_EXCLUDED_URLS"):
        monkeypatch.delenv(name, raising=False)
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = build_telemetry(TelemetryConfig(service_name="test-service", extra_span_exporters=(spans,),
                                                extra_metric_readers=(metrics,)))
    yield Harness(telemetry, spans, metrics)
    telemetry.shutdown()


def test_one_server_span_named_by_the_route_template(harness: Harness) -> None:
    response = harness.client.get("/items/42", headers={"user-agent": "curl/8.5"})
    assert response.status_code == 200
    (span,) = harness.server_spans()
    assert span.name == "GET /items/{item_id}"
    attrs = dict(span.attributes or {})
    assert attrs == {
        "http.request.method": "GET", "url.path": "/items/42", "url.scheme": "http",
        "network.protocol.version": "1.1", "server.address": "testserver", "client.address": "testclient",
        "user_agent.original": "curl/8.5", "http.route": "/items/{item_id}", "http.response.status_code": 200,
    }
    assert span.status.status_code == StatusCode.UNSET
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "instrumentation.asgi"


def test_handler_spans_are_children_of_the_server_span(harness: Harness) -> None:
    harness.client.get("/items/1")
    (server,) = harness.server_spans()
    (child,) = [s for s in harness.spans.get_finished_spans() if s.name == "child"]
    assert child.parent is not None and child.parent.span_id == server.context.span_id
    assert child.context.trace_id == server.context.trace_id


def test_parent_comes_from_the_traceparent_header(harness: Harness) -> None:
    harness.client.get("/items/7", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    (span,) = harness.server_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and span.parent.is_remote
    assert format(span.parent.span_id, "016x") == PARENT_ID


def test_an_unsampled_caller_makes_no_span_but_the_request_is_measured(harness: Harness) -> None:
    harness.client.get("/items/7", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"})
    assert harness.spans.get_finished_spans() == ()
    (point,) = harness.duration_points()
    assert point.count == 1 and not point.exemplars


def test_a_5xx_response_is_an_error(harness: Harness) -> None:
    assert harness.client.get("/unavailable").status_code == 503
    (span,) = harness.server_spans()
    assert span.attributes is not None and span.attributes["error.type"] == "503"
    assert span.attributes["http.response.status_code"] == 503
    assert span.status.status_code == StatusCode.ERROR
    (point,) = harness.duration_points()
    assert attributes(point)["error.type"] == "503"


def test_an_exception_is_a_500_with_its_type(harness: Harness) -> None:
    assert harness.client.get("/boom").status_code == 500
    (span,) = harness.server_spans()
    assert span.name == "GET /boom"
    assert span.attributes is not None and span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["http.response.status_code"] == 500
    assert span.status.status_code == StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    (point,) = harness.duration_points()
    assert attributes(point) == {"http.request.method": "GET", "http.route": "/boom",
                                      "http.response.status_code": 500, "url.scheme": "http",
                                      "network.protocol.version": "1.1", "error.type": "RuntimeError"}


def test_one_duration_record_per_request_keyed_by_the_route_template(harness: Harness) -> None:
    for item in (1, 2, 3):
        harness.client.get(f"/items/{item}")
    (point,) = harness.duration_points()
    assert point.count == 3
    assert set(attributes(point)) == METRIC_KEYS
    assert attributes(point)["http.route"] == "/items/{item_id}"
    assert attributes(point)["http.response.status_code"] == 200
    assert tuple(point.explicit_bounds) == HTTP_DURATION_BUCKETS
    assert 0 < point.sum < 5


def test_a_sampled_request_leaves_its_trace_id_as_exemplar(harness: Harness) -> None:
    harness.client.get("/items/5")
    (span,) = harness.server_spans()
    (point,) = harness.duration_points()
    assert [e.trace_id for e in point.exemplars] == [span.context.trace_id]
    assert point.exemplars[0].span_id == span.context.span_id


def test_an_unmatched_path_has_no_route(harness: Harness) -> None:
    assert harness.client.get("/no/such/path").status_code == 404
    (span,) = harness.server_spans()
    assert span.name == "GET"
    assert span.attributes is not None and "http.route" not in span.attributes
    (point,) = harness.duration_points()
    assert "http.route" not in attributes(point) and attributes(point)["http.response.status_code"] == 404


def test_excluded_urls_lose_the_span_not_the_metric(monkeypatch: pytest.MonkeyPatch, harness: Harness) -> None:
    monkeypatch.setenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "/unavailable,/items/9$")
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = build_telemetry(TelemetryConfig(service_name="test-service", extra_span_exporters=(spans,),
                                                extra_metric_readers=(metrics,)))
    excluded = Harness(telemetry, spans, metrics)
    excluded.client.get("/items/9")
    excluded.client.get("/items/10")
    assert [s.attributes["url.path"] for s in excluded.server_spans() if s.attributes] == ["/items/10"]
    (point,) = excluded.duration_points()
    assert point.count == 2
    telemetry.shutdown()


def test_an_unknown_method_is_other(harness: Harness) -> None:
    assert harness.client.request("PURGE", "/items/3").status_code == 405
    (span,) = harness.server_spans()
    assert span.attributes is not None and span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PURGE"
    assert span.name.startswith("HTTP")
    (point,) = harness.duration_points()
    assert attributes(point)["http.request.method"] == "_OTHER"


@pytest.mark.parametrize(("mode", "spans"), [("stock", 1), ("off", 0)])
def test_the_other_modes(mode: HttpMode, spans: int) -> None:
    exporter = InMemorySpanExporter()
    telemetry = build_telemetry(TelemetryConfig(service_name="test-service", extra_span_exporters=(exporter,)))
    harness = Harness(telemetry, exporter, InMemoryMetricReader(), mode)
    assert harness.client.get("/items/3").status_code == 200
    assert [s.name for s in harness.server_spans()] == ["GET /items/{item_id}"] * spans
    telemetry.shutdown()


def test_the_query_string_is_url_query_with_credentials_masked(harness: Harness) -> None:
    harness.client.get("/items/7?page=2&api_key=s3cr3t&access_token=t0k&sig=abc&flag")
    harness.client.get("/items/7?page=3")
    first, second = harness.server_spans()
    assert dict(first.attributes or {})["url.query"] == "page=2&api_key=****&access_token=****&sig=****&****"
    assert dict(second.attributes or {})["url.query"] == "page=3"  # one shape per query: not the first one's
    assert "s3cr3t" not in repr(first.attributes) and "t0k" not in repr(first.attributes)
    assert dict(first.attributes or {})["url.path"] == "/items/7"
