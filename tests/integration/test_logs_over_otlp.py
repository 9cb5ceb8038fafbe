"""The service's log records reach an OTLP/HTTP receiver: a fake Collector in this test that decodes each
POST /v1/logs as the ``ExportLogsServiceRequest`` it is. (The real Collector -> VictoriaLogs path is
tests/pipeline's.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from app.main import create_app
from tests.integration.conftest import LOCAL, make_settings

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
PROCESS = "/v1/text_processing/process"


class FakeCollector:
    def __init__(self) -> None:
        self.requests: list[ExportLogsServiceRequest] = []
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.paths.append(self.path)
                if self.path == "/v1/logs":
                    assert self.headers.get("Content-Type") == "application/x-protobuf"
                    collector.requests.append(ExportLogsServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def records(self) -> list[tuple[dict[str, Any], str, LogRecord]]:
        """(resource attributes, scope name, record) of every record received."""
        found = []
        for request in self.requests:
            for rl in request.resource_logs:
                resource = {kv.key: kv.value.string_value for kv in rl.resource.attributes}
                for sl in rl.scope_logs:
                    found += [(resource, sl.scope.name, record) for record in sl.log_records]
        return found


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def test_the_access_record_of_a_request_reaches_the_collector_with_its_trace_id(
        collector: FakeCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_LOGS_EXPORTER", raising=False)
    settings = make_settings(redis_enabled=False, log_level="INFO", otel_exporter_otlp_endpoint=collector.url,
                             otel_service_name="logs-test")
    with TestClient(create_app(settings), client=(LOCAL, 50000)) as client:
        response = client.post(PROCESS, json={"text": "The launch went well.", "operation": "sentiment"},
                               headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        assert response.status_code == 200
        assert collector.records() == []  # batched: nothing is sent on the request's time
    # the lifespan's shutdown flushed the LoggerProvider
    access = [(resource, record) for resource, scope, record in collector.records() if scope == "http.access"]
    assert len(access) == 1, collector.paths
    resource, record = access[0]
    assert resource["service.name"] == "logs-test"
    assert record.trace_id.hex() == TRACE_ID and len(record.span_id) == 8 and record.span_id.hex() != PARENT_ID
    assert (record.severity_text, record.severity_number) == ("INFO", 9)
    attributes = {kv.key: kv.value for kv in record.attributes}
    assert attributes["http.route"].string_value == PROCESS
    assert attributes["http.response.status_code"].int_value == 200
    assert attributes["http.server.request.duration"].double_value > 0
    assert "launch" not in str(record)  # the request's text stays out
    assert any(scope == "app" and "started" in r.body.string_value for _, scope, r in collector.records())


def test_the_log_exporter_reports_its_health(collector: FakeCollector, client_for: Any) -> None:
    client = client_for(redis_enabled=False, log_level="INFO", otel_exporter_otlp_endpoint=collector.url)
    client.get("/health")
    telemetry = client.app.state.services.telemetry
    assert telemetry.logs is not None and telemetry.logs.provider.force_flush(5_000)
    health = client.get("/internal/monitoring/health").json()
    logs = [e for e in health["components"]["telemetry"]["exporters"] if e["signal"] == "logs"]
    assert logs and logs[0]["healthy"] is True and logs[0]["exported"] >= 1
    assert logs[0]["endpoint"] == f"{collector.url}/v1/logs"
