"""The kept-alive transport against the SDK's requests transport: the same exports reach the same server alike.

A real HTTP server on 127.0.0.1 records each post (method, path, the exporter's own headers, body) and answers
what the test asks (200, a retryable 503 with Retry-After, a 400, a dropped connection). Each export goes
through an exporter built the SDK's way and through one whose transport ``keep_alive`` replaced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation.otlp_transport import SDK_PIN, KeptAliveTransport, keep_alive

# Headers each transport adds of its own accord (requests: Accept, Connection; http.client: Host, ...).
_TRANSPORT_HEADERS = {"accept", "accept-encoding", "connection", "host", "content-length"}


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a Collector
    server: Any

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in _TRANSPORT_HEADERS}
        self.server.posts.append((self.command, self.path, headers, body))
        status = self.server.answers.pop(0) if self.server.answers else 200
        if status == 0:  # drop the connection without an answer
            self.close_connection = True
            return
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Any]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.posts, httpd.answers = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for n in range(3):
        provider.get_tracer("t").start_span(f"span {n}", attributes={"n": n}).end()
    return list(exporter.get_finished_spans())


def _exporters(server: Any) -> tuple[OTLPSpanExporter, OTLPSpanExporter]:
    url = f"http://127.0.0.1:{server.server_port}/v1/traces"
    official = OTLPSpanExporter(endpoint=url, headers={"x-tenant": "a"}, timeout=5)
    kept = OTLPSpanExporter(endpoint=url, headers={"x-tenant": "a"}, timeout=5)
    assert keep_alive(kept)
    return official, kept


def test_the_server_receives_the_same_posts(server: Any) -> None:
    official, kept = _exporters(server)
    spans = _spans()
    assert official.export(spans) is SpanExportResult.SUCCESS
    assert kept.export(spans) is SpanExportResult.SUCCESS
    assert kept.export(spans) is SpanExportResult.SUCCESS  # the second over the kept connection
    first, second, third = server.posts
    assert first == second == third
    assert first[0] == "POST" and first[1] == "/v1/traces" and first[2]["x-tenant"] == "a"
    assert first[2]["content-type"] == "application/x-protobuf" and len(first[3]) > 50


@pytest.mark.parametrize(("answers", "result", "posts"), [
    ([503], SpanExportResult.SUCCESS, 2),  # retryable: retried after Retry-After
    ([400], SpanExportResult.FAILURE, 1),  # not retryable
    ([0], SpanExportResult.SUCCESS, 2),  # a dropped connection: a connection error, retried at once
])
def test_failures_are_handled_alike(server: Any, answers: list[int], result: SpanExportResult,
                                    posts: int) -> None:
    for exporter in _exporters(server):
        server.posts.clear()
        server.answers[:] = answers
        assert exporter.export(_spans()) is result
        assert len(server.posts) == posts


def test_a_collector_that_is_down_is_a_connection_error_for_both() -> None:
    url = "http://127.0.0.1:9/v1/traces"  # discard port: nothing listens
    official, kept = OTLPSpanExporter(endpoint=url, timeout=1), OTLPSpanExporter(endpoint=url, timeout=1)
    assert keep_alive(kept)
    for exporter in (official, kept):
        transport = exporter._client._transport
        outcome = transport.request("POST", url, headers={}, timeout=1, data=b"x")
        assert outcome.status_code is None and transport.is_connection_error(outcome.error)


def test_only_plain_http_on_the_pinned_sdk() -> None:
    assert not keep_alive(OTLPSpanExporter(endpoint="https://collector.example:4318/v1/traces"))
    assert not keep_alive(OTLPSpanExporter(endpoint="http://127.0.0.1:4318/v1/traces"), version=SDK_PIN + ".other")
    assert not keep_alive(object())  # not an exporter this knows: left alone
    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:4318/v1/traces")
    assert keep_alive(exporter) and not keep_alive(exporter)  # once
    assert isinstance(exporter._client._transport, KeptAliveTransport)


def test_a_proxy_from_the_environment_keeps_the_sdk_transport(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    class Fallback:
        def __init__(self) -> None:
            self.urls: list[str] = []

        def request(self, method: str, url: str, **kwargs: Any) -> Any:
            self.urls.append(url)
            return None

    fallback = Fallback()
    transport = KeptAliveTransport(fallback)  # type: ignore[arg-type]
    transport.request("POST", f"http://collector.internal:{server.server_port}/v1/traces", data=b"x")
    assert fallback.urls and not server.posts
