"""ENABLE_EXTERNAL_MONITORING + PROMETHEUS_GATEWAY_URL push the service's metrics to a real Pushgateway."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.processes import free_port


@pytest.fixture(autouse=True)
def _quick_otlp_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # no Collector here: give up fast


@pytest.fixture
def pushgateway() -> Iterator[str]:
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        pytest.skip("prometheus-pushgateway (Debian package) not installed; scripts/pushgateway.sh installs it")
    port = free_port()
    # Debian builds default to a persistence file: state from another run would leak in
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_metrics_are_pushed_per_instance(client_for: Any, pushgateway: str) -> None:
    client = client_for(redis_enabled=False, enable_external_monitoring=True, prometheus_gateway_url=pushgateway,
                        otel_exporter_otlp_endpoint=f"http://127.0.0.1:{free_port()}", metrics_export_interval=1)
    client.post("/v1/text_processing/process", json={"text": "Pushgateway keeps the last push.", "operation": "qa",
                                                    "question": "What does it keep?"})
    instance = client.app.state.services.telemetry.resource.attributes["service.instance.id"]
    found = ""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = httpx.get(f"{pushgateway}/metrics", timeout=2).text
        if "llm_obs_cache_lookups_total{" in found and instance in found:
            break
        time.sleep(0.3)
    lines = [line for line in found.splitlines() if line.startswith("llm_obs_cache_lookups_total{")]
    expected = ('job="llm-text-service"', f'instance="{instance}"')
    assert lines and all(all(label in line for label in expected) for line in lines), (instance, lines)
    health = client.get("/internal/monitoring/health").json()["components"]["telemetry"]["exporters"]
    assert any(e["signal"] == "pushgateway" and e["healthy"] for e in health)


def test_a_gateway_that_is_down_fails_no_request(client_for: Any) -> None:
    client = client_for(redis_enabled=False, enable_external_monitoring=True,
                        prometheus_gateway_url=f"http://127.0.0.1:{free_port()}",
                        otel_exporter_otlp_endpoint=f"http://127.0.0.1:{free_port()}", metrics_export_interval=1)
    statuses = [client.post("/v1/text_processing/process",
                            json={"text": f"Request number {i} while the gateway is down.", "operation": "summarize"}
                            ).status_code for i in range(5)]
    assert statuses == [200] * 5
    time.sleep(0.5)
    exporters = client.get("/internal/monitoring/health").json()["components"]["telemetry"]["exporters"]
    assert any(e["signal"] == "pushgateway" and e["healthy"] is False for e in exporters)
