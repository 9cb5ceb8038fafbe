"""The monitoring analysis endpoints as an operator sees them: answers computed from what the service
measured, on a real Redis and a fake OpenAI-compatible vendor that can be made to fail."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import RedisServer, free_port

OPS = "/internal/monitoring"
PROCESS = "/v1/text_processing/process"
TEXT = "The payment service failed twice this morning. Engineers restarted it and traffic recovered."

# Every endpoint answers on a fresh service with these top-level fields.
FIELDS: dict[str, set[str]] = {
    "memory-trends?days=7": {"days", "process", "cache", "points", "summary"},
    "memory-stats": {"process", "cache", "monitoring", "notes"},
    "performance": {"status", "kpis", "summary", "latency", "window"},
    "performance-analysis": {"slowest_routes", "dependencies", "bottleneck", "recommendations", "summary"},
    "performance-impact": {"per_request", "per_operation_us", "budget", "background", "recommendations"},
    "dependencies": {"status", "all_reachable", "unreachable", "dependencies"},
    "config": {"valid", "variables", "otel_environment", "effective", "notes"},
    "status": {"collecting", "status", "history", "export", "problems"},
    "recovery-metrics": {"verdict", "slices", "current", "circuit_breakers", "thresholds"},
    "post-recovery-check": {"passed", "verdict", "checks", "failed", "summary"},
    "post-maintenance-check": {"passed", "verdict", "checks", "failed", "maintenance"},
}



class Stub:
    """A local HTTP server standing in for Prometheus (``/-/ready``) and a webhook receiver."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                stub.seen.append((self.command, self.path))
                self.send_response(200 if self.path == "/-/ready" or self.command == "HEAD" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.stop()


def llm_client(client_for: Any, fake: FakeOpenAI, **overrides: Any) -> Any:
    return client_for(**{"redis_enabled": False, "llm_provider": "openai", "llm_base_url": fake.base_url,
                         "llm_api_key": "sk-test", "llm_timeout_seconds": 2.0, "resilience_max_attempts": 1,
                         "resilience_failure_threshold": 3, "resilience_base_delay_seconds": 0.0, **overrides})


def ask(client: Any, n: int) -> int:
    response = client.post(PROCESS, json={"text": f"{TEXT} Incident {n}.", "operation": "summarize"})
    return int(response.status_code)


def get(client: Any, path: str) -> dict[str, Any]:
    response = client.get(f"{OPS}/{path}")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("path", list(FIELDS))
def test_every_endpoint_answers_on_a_fresh_service(client_for: Any, path: str) -> None:
    answer = get(client_for(redis_enabled=False), path)
    assert FIELDS[path] <= set(answer), f"{path} lacks {FIELDS[path] - set(answer)}"


@pytest.mark.parametrize(("path", "words"), [
    ("memory-trends?days=0", "greater than 0"),
    ("memory-trends?days=seven", "valid number"),
    ("memory-trends?days=91", "less than or equal to 90"),
    ("performance?time_window_hours=-1", "greater than 0"),
    ("recovery-metrics?minutes=0", "greater than 0"),
    ("post-recovery-check?minutes=2000", "less than or equal to 1440"),
])
def test_bad_parameters_are_a_422_that_says_what_is_wrong(client_for: Any, path: str, words: str) -> None:
    response = client_for(redis_enabled=False).get(f"{OPS}/{path}")
    assert response.status_code == 422
    assert words in str(response.json()["detail"])


def test_an_outage_shows_in_performance_analysis_and_checks_then_recovery(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    history = client.app.state.services.telemetry.history
    for n in range(10):
        assert ask(client, n) == 200
    history.record()  # slice 1: healthy

    fake.mode = "error500"
    statuses = [ask(client, 100 + n) for n in range(10)]
    assert statuses.count(502) == 3 and statuses.count(503) == 7  # the breaker opened after 3 failures
    history.record()  # slice 2: the outage

    performance = get(client, "performance")
    assert performance["status"] == "fail"
    rows = {k["name"]: k for k in performance["kpis"]}
    assert rows["ApiErrorRateHigh"]["value"] == 50.0 and rows["ApiErrorRateHigh"]["passed"] is False
    assert rows["CircuitBreakerOpen"]["status"] == "fail"

    analysis = get(client, "performance-analysis")
    advice = {a["kpi"]: a["recommendation"] for a in analysis["recommendations"]}
    assert "10 of 20 API requests failed" in advice["ApiErrorRateHigh"]
    assert "ai_service" in advice["CircuitBreakerOpen"]
    llm = next(d for d in analysis["dependencies"] if d["name"] == "llm")
    assert llm["calls"] == 13 and llm["errors"] == 3  # 10 answered, 3 failed, 7 never attempted

    check = get(client, "post-recovery-check")
    assert check["passed"] is False and check["verdict"] == "fail"
    assert {"circuit_breakers_closed", "error_rate", "no_critical_alerts"} <= set(check["failed"])
    evidence = next(c for c in check["checks"] if c["name"] == "error_rate")["evidence"]
    assert (evidence["value"], evidence["threshold"]) == (50.0, 1.0)
    assert get(client, "recovery-metrics")["verdict"] == "degrading"

    fake.mode = "ok"
    client.post("/internal/resilience/circuit-breakers/ai_service/reset")
    history.record()  # the recovery window starts here
    for n in range(10):
        assert ask(client, 200 + n) == 200

    recovery = get(client, "recovery-metrics")
    assert recovery["verdict"] == "recovered"
    # healthy traffic, the outage, the reset (no API traffic), the traffic since
    assert [s["healthy"] for s in recovery["slices"]] == [True, False, True, True]
    assert recovery["slices"][1]["open_circuit_breakers"] == ["ai_service", "summarize"]
    since = get(client, "post-recovery-check?minutes=0.001")  # only the traffic since the reset
    checks = {c["name"]: c for c in since["checks"]}
    assert checks["error_rate"]["passed"] and checks["circuit_breakers_closed"]["passed"]
    assert checks["error_rate"]["evidence"]["requests"] == 10
    # the alert engine judges its own 5-minute window, which still holds the outage
    assert since["failed"] == ["no_critical_alerts"]
    assert checks["no_critical_alerts"]["evidence"]["firing"] == ["ApiErrorRateCritical"]
    assert "error_rate" in get(client, "post-recovery-check")["failed"]  # the last 5 minutes hold the outage


def test_memory_endpoints_read_the_history(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    telemetry = client.app.state.services.telemetry
    for _ in range(3):
        telemetry.history.record()
    trends = get(client, "memory-trends?days=1")
    assert trends["points_measured"] == len(telemetry.history) + 1  # the kept snapshots and a fresh one
    assert trends["process"]["current_mb"] > 10 and trends["process"]["limit_mb"] > trends["process"]["current_mb"]
    assert trends["process"]["trend"] == "insufficient_data"  # seconds of history are not a trend

    get(client, "memory-stats")  # its reads index the snapshots they touch (counted from then on)
    stats = get(client, "memory-stats")
    history = stats["monitoring"]["history"]
    assert history["snapshots"] == len(telemetry.history)
    assert history["memory_mb"] == round(telemetry.history.memory_bytes() / 1e6, 4)
    assert history["max_snapshots"] >= history["snapshots"]
    assert stats["process"]["rss_mb"] > 10
    assert ask(client, 1) == 200
    assert get(client, "memory-stats")["cache"]["tiers"]["memory"]["entries"] == 1


def test_performance_impact_is_measured_once_and_counts_requests(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    for n in range(5):
        assert ask(client, n) == 200
    first = get(client, "performance-impact")
    per = first["per_request"]
    assert per["requests"] >= 5 and per["spans"] >= 1.0 and per["histogram_records"] >= 1.0
    assert per["telemetry_us"] > 0 and per["percent_of_request"] > 0
    assert first["per_operation_us"]["span"] > 0
    assert first["measurement"]["span_processor"].startswith("none")  # no OTLP export configured
    second = get(client, "performance-impact")
    assert second["measurement"]["measured_at"] == first["measurement"]["measured_at"]
    assert second["per_request"]["requests"] > per["requests"]  # the first answer's request counts too


def test_dependencies_on_real_redis_prometheus_and_webhook(client_for: Any, redis_server: RedisServer,
                                                           fake: FakeOpenAI, stub: Stub) -> None:
    client = client_for(redis_url=redis_server.url, llm_provider="openai", llm_base_url=fake.base_url,
                        prometheus_url=stub.url, monitoring_webhook_url=f"{stub.url}/hooks/T0/secret")
    deps = get(client, "dependencies")
    found = deps["dependencies"]
    assert found["redis"]["reachable"] is True and found["redis"]["latency_ms"] < 1000
    assert found["prometheus"]["reachable"] is True and found["prometheus"]["detail"]["ready"] is True
    assert found["webhook"]["reachable"] is True
    assert found["llm_provider"]["reachable"] is True and found["llm_provider"]["target"] == fake.base_url
    assert found["collector"]["configured"] is False and "collector" not in deps["unreachable"]
    assert deps["all_reachable"] is True
    # looking only: a HEAD to the webhook, a GET of /-/ready, no completion asked of the vendor
    assert sorted(stub.seen) == [("GET", "/-/ready"), ("HEAD", "/hooks/T0/secret")]
    assert all("chat/completions" not in r.path for r in fake.requests)

    redis_server.stop()
    try:
        down = get(client, "dependencies")
        assert down["unreachable"] == ["redis"] and down["dependencies"]["redis"]["last_error"]
        check = get(client, "post-recovery-check")
        assert "redis_reachable" in check["failed"]
        serving = next(c for c in check["checks"] if c["name"] == "cache_serving")
        assert serving["passed"] is True and serving["evidence"]["serving_tiers"] == "memory"
    finally:
        redis_server.start()


def test_everything_down_stays_fast(client_for: Any, silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # the app's own exporters give up quickly at exit
    closed = free_port()
    hung = f"http://127.0.0.1:{silent_port}"
    client = client_for(redis_url=f"redis://127.0.0.1:{closed}/0", otel_exporter_otlp_endpoint=f"http://127.0.0.1:{closed}",
                        prometheus_url=hung, monitoring_webhook_url=f"{hung}/hooks/T0/secret", llm_provider="openai",
                        llm_base_url=f"{hung}/v1")
    start = time.monotonic()
    deps = get(client, "dependencies")
    elapsed = time.monotonic() - start
    assert set(deps["unreachable"]) == {"redis", "collector", "prometheus", "llm_provider", "webhook"}
    assert deps["dependencies"]["webhook"]["last_error"] == "no answer in 2 s"
    assert deps["dependencies"]["webhook"]["target"].endswith("/***")  # the path is the webhook's secret
    assert elapsed < 4.5  # three 2 s timeouts at once, not one after another


def test_config_masks_secrets_and_status_tells_if_collecting(client_for: Any) -> None:
    client = client_for(redis_enabled=False, monitoring_webhook_url="https://hooks.example.com/T0/B0/tok3n",
                        monitoring_webhook_secret="s3cr3t", prometheus_url="http://prom:9090")
    config = get(client, "config")
    variables = config["variables"]
    assert variables["MONITORING_WEBHOOK_URL"]["value"] == "https://hooks.example.com/***"
    assert variables["MONITORING_WEBHOOK_SECRET"]["value"] == "****"
    assert variables["PROMETHEUS_URL"] == {"value": "http://prom:9090", "source": "set"}
    assert variables["METRICS_EXPORT_INTERVAL"]["value"] == 3600
    assert "tok3n" not in str(config) and "s3cr3t" not in str(config)
    assert any(n["setting"] == "METRICS_EXPORT_INTERVAL" for n in config["notes"])  # 3600 s > the 300 s window

    status = get(client, "status")
    assert status["collecting"] is True and status["history"]["thread_alive"] is True
    assert status["history"]["snapshots"] >= 1

    off = get(client_for(redis_enabled=False, enable_monitoring=False), "status")
    assert off["collecting"] is False and off["status"] == "disabled"
    assert off["history"]["thread_alive"] is False and "ENABLE_MONITORING=false" in off["problems"][0]


def test_post_maintenance_check_reports_maintenance_mode(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    assert client.post(f"{OPS}/maintenance-mode/enable").status_code == 200
    during = get(client, "post-maintenance-check")
    assert during["maintenance"]["enabled"] is True and during["passed"] is True
    assert "maintenance-mode/disable" in during["next_step"]
    client.post(f"{OPS}/maintenance-mode/disable")
    after = get(client, "post-maintenance-check")
    assert after["maintenance"]["enabled"] is False and "next_step" not in after


def test_odd_configuration_degrades_answers_instead_of_failing_them(client_for: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "soon")
    client = client_for(redis_enabled=False, prometheus_url="http://127.0.0.1:notaport")
    prometheus = get(client, "dependencies")["dependencies"]["prometheus"]
    assert prometheus["reachable"] is False and prometheus["last_error"]
    config = get(client, "config")
    assert config["effective"]["metric_export_interval_ms"] == "soon"
    assert any(n["setting"] == "OTEL_METRIC_EXPORT_INTERVAL" and n["level"] == "warning" for n in config["notes"])
