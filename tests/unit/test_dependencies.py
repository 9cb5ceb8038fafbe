"""Dependency probes against real local sockets, and the configuration report (masked: tests/unit/test_redact.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.monitoring.dependencies import (
    Probe,
    config_notes,
    config_report,
    dependencies_report,
    guarded,
    not_configured,
    probe_http,
    probe_tcp,
)
from app.settings import Settings
from tests.helpers.processes import free_port


class _Handler(BaseHTTPRequestHandler):
    status = 200
    methods: list[str] = []

    def _answer(self) -> None:
        type(self).methods.append(self.command)
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"status": 200, "methods": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


async def test_http_probe_reports_status_and_readiness(http_server: tuple[str, type[_Handler]]) -> None:
    url, handler = http_server
    probe = await probe_http("prometheus", "GET", f"{url}/-/ready", url)
    assert probe.reachable and probe.detail == {"status_code": 200, "ready": True} and probe.last_error is None
    handler.status = 503
    probe = await probe_http("prometheus", "GET", f"{url}/-/ready", url)
    assert probe.reachable and probe.detail["ready"] is False and probe.last_error == "HTTP 503"


async def test_webhook_probe_sends_head_only(http_server: tuple[str, type[_Handler]]) -> None:
    url, handler = http_server
    handler.status = 405
    probe = await probe_http("webhook", "HEAD", f"{url}/hooks/secret", url, ready_statuses=range(200, 500))
    assert probe.reachable and probe.detail["ready"] is True
    assert handler.methods == ["HEAD"]


async def test_a_closed_port_is_unreachable_with_the_error() -> None:
    port = free_port()
    tcp = await probe_tcp("collector", "x", "127.0.0.1", port)
    http = await probe_http("prometheus", "GET", f"http://127.0.0.1:{port}/-/ready", "x")
    for probe in (tcp, http):
        assert probe.reachable is False and probe.last_error and "Connect" in probe.last_error


async def test_probes_time_out_and_run_concurrently(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    loop = asyncio.get_running_loop()
    start = loop.time()
    probes = await asyncio.gather(*(probe_http(f"p{i}", "GET", url, url, timeout_s=0.5) for i in range(4)))
    elapsed = loop.time() - start
    assert all(p.reachable is False and p.last_error == "no answer in 0.5 s" for p in probes)
    assert elapsed < 1.5  # four 0.5 s timeouts side by side, not one after another


async def test_tcp_probe_of_a_listening_port(silent_port: int) -> None:
    probe = await probe_tcp("collector", "x", "127.0.0.1", silent_port)
    assert probe.reachable is True and probe.last_error is None


def test_report_lists_what_is_down_and_what_is_not_configured() -> None:
    report = dependencies_report([
        Probe("redis", True, "redis://h:1", reachable=True),
        Probe("collector", True, "http://c:4318", reachable=False, last_error="refused"),
        Probe("prometheus", True, "http://p:9090", reachable=True, detail={"ready": False}),
        not_configured("webhook", "MONITORING_WEBHOOK_URL"),
    ])
    assert (report["status"], report["unreachable"], report["not_ready"]) == ("unhealthy", ["collector"],
                                                                              ["prometheus"])
    assert report["configured"] == ["redis", "collector", "prometheus"]
    assert report["dependencies"]["webhook"]["configured"] is False


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def test_config_masks_secrets_and_marks_what_was_set() -> None:
    s = settings(monitoring_webhook_url="https://hooks.example.com/T0/B0/secretpath",
                 monitoring_webhook_secret="s3cr3t", metrics_export_interval=30)
    environ = {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc", "OTEL_SERVICE_NAME": "svc", "PATH": "/bin"}
    report = config_report(s.model_dump(), s.model_fields_set, environ, {}, [])
    variables = report["variables"]
    assert variables["MONITORING_WEBHOOK_URL"]["value"] == "https://hooks.example.com/***"
    assert variables["MONITORING_WEBHOOK_SECRET"]["value"] == "****"
    assert variables["METRICS_EXPORT_INTERVAL"] == {"value": 30.0, "source": "set"}
    assert variables["CACHE_MONITORING_RETENTION_HOURS"]["source"] == "default"
    assert "PROMETHEUS_URL" in variables and "API_KEY" not in variables and "LLM_API_KEY" not in variables
    assert report["otel_environment"] == {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=****", "OTEL_SERVICE_NAME": "svc"}
    assert "s3cr3t" not in str(report) and "secretpath" not in str(report) and "abc" not in str(report)


def test_config_notes_flag_surprising_combinations() -> None:
    s = settings(enable_monitoring=False, metrics_export_interval=600, cache_monitoring_retention_hours=2,
                 alert_memory_warning_mb=80, alert_memory_critical_mb=90)
    notes = {n["setting"]: n for n in config_notes(s.model_dump(), {}, 52.4, 300)}
    assert {"ENABLE_MONITORING", "METRICS_EXPORT_INTERVAL", "CACHE_MONITORING_RETENTION_HOURS",
            "ALERT_MEMORY_WARNING_MB", "ENABLE_EXTERNAL_MONITORING"} <= set(notes)
    assert notes["ALERT_MEMORY_WARNING_MB"]["level"] == "warning"
    quiet = settings(otel_exporter_otlp_endpoint="http://c:4318", metrics_export_interval=60)
    assert config_notes(quiet.model_dump(), {}, 52.4, 300) == []


async def test_a_probe_that_breaks_or_overruns_degrades_the_answer() -> None:
    async def broken() -> Probe:
        raise ValueError("Invalid port: 'notaport'")

    async def endless() -> Probe:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    failed = await guarded("prometheus", broken())
    assert failed.reachable is False and failed.last_error == "ValueError: Invalid port: 'notaport'"
    late = await guarded("webhook", endless(), timeout_s=0.05)
    assert late.reachable is False and late.last_error == "no answer in 0.05 s"


def test_a_bad_otel_interval_is_flagged() -> None:
    s = settings(otel_exporter_otlp_endpoint="http://c:4318", metrics_export_interval=60)
    notes = config_notes(s.model_dump(), {"OTEL_METRIC_EXPORT_INTERVAL": "soon"}, 52.4, 300)
    assert [n["level"] for n in notes] == ["warning"] and "'soon'" in notes[0]["message"]
