"""The guide's curl | jq commands for the service-core endpoints, run as written with real curl and jq
(only the host:port is the test server's), on a fresh service and after traffic."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.helpers.processes import LiveService

# (path, jq filter as the guide writes it, the JSON type(s) jq must yield)
GUIDE_READS: list[tuple[str, str, tuple[str, ...]]] = [
    ("/internal/monitoring/overview", ".system_health", ("object",)),
    ("/internal/monitoring/overview", ".system_health.status", ("string",)),
    ("/internal/monitoring/overview", ".system_health.error_rate", ("number",)),
    ("/internal/monitoring/overview", ".cache_performance.stats.hit_ratio", ("number",)),
    ("/internal/monitoring/overview", ".cache_performance.memory_usage", ("object",)),
    ("/internal/monitoring/health", ".overall_status", ("string",)),
    ("/internal/monitoring/metrics?time_window_hours=168", ".", ("object",)),
    ("/internal/monitoring/metrics?time_window_hours=24", ".cache_metrics.performance_trends", ("array",)),
    ("/internal/monitoring/metrics?time_window_hours=168", ".cache_metrics.performance_trends", ("array",)),
    ("/internal/monitoring/metrics?time_window_hours=168", ".request_metrics.avg_response_time", ("number",)),
    ("/internal/monitoring/metrics?time_window_hours=24", ".cache_metrics.hit_ratio", ("number",)),
    ("/internal/monitoring/metrics?time_window_hours=24", ".system_health.error_rate", ("number",)),
    ("/internal/monitoring/alerts", ".by_severity", ("object",)),
    ("/internal/monitoring/alerts", ".by_severity.critical", ("number",)),
    ("/internal/monitoring/alerts", ".by_severity.warning", ("number",)),
    ("/internal/monitoring/alerts", ".alerts", ("array",)),
    ("/internal/cache/stats", ".performance", ("object",)),
    ("/internal/resilience/circuit-breakers", ".", ("object",)),
]


def curl_jq(url: str, jq_filter: str) -> Any:
    command = f"curl -s '{url}' | jq -c '{jq_filter} | [type, .]'"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return json.loads(done.stdout)


def check_all(service: LiveService) -> dict[str, Any]:
    seen = {}
    for path, jq_filter, types in GUIDE_READS:
        kind, value = curl_jq(service.url + path, jq_filter)
        assert kind in types, f"{path} | jq '{jq_filter}' gave {kind}: {value}"
        seen[f"{path} {jq_filter}"] = value
    return seen


def traffic(service: LiveService) -> None:
    for i in range(6):
        for _ in range(2):  # a miss, then a hit
            payload = json.dumps({"text": f"Redis answers in a millisecond. Request {i}.", "operation": "sentiment"})
            subprocess.run(["curl", "-sf", "-X", "POST", f"{service.url}/v1/text_processing/process",
                            "-H", "Content-Type: application/json", "-d", payload],
                           check=True, capture_output=True, timeout=30)


def test_guide_paths_on_a_fresh_service_then_after_traffic(service: LiveService) -> None:
    fresh = check_all(service)
    assert fresh["/internal/monitoring/alerts .by_severity.critical"] == 0
    traffic(service)
    after = check_all(service)
    assert after["/internal/monitoring/overview .cache_performance.stats.hit_ratio"] == 50.0
    assert after["/internal/monitoring/metrics?time_window_hours=168 .request_metrics.avg_response_time"] > 0
    assert after["/internal/monitoring/health .overall_status"] == "healthy"
    assert set(after["/internal/resilience/circuit-breakers ."]) >= {"ai_service", "summarize", "qa"}


def test_basic_health_passes_curl_f(service: LiveService) -> None:
    done = subprocess.run(["curl", "-f", "-s", f"{service.url}/health"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "healthy"


def test_reset_command_as_written(service: LiveService) -> None:
    url = f"{service.url}/internal/resilience/circuit-breakers/ai_service/reset"
    done = subprocess.run(["curl", "-s", "-X", "POST", url], capture_output=True, text=True, timeout=10)
    assert json.loads(done.stdout)["new_state"] == "closed"


def test_prometheus_format_passes_promtool(service: LiveService) -> None:
    traffic(service)
    text = subprocess.run(["curl", "-s", f"{service.url}/internal/monitoring/metrics?format=prometheus"],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    for name in ("http_server_request_duration_seconds_bucket", "llm_obs_cache_lookups_total",
                 "gen_ai_client_operation_duration_seconds_bucket", "db_client_operation_duration_seconds_bucket"):
        assert name in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) not installed")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr
