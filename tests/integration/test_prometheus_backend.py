"""MONITORING_QUERY_BACKEND=prometheus with Prometheus down: the runbook answers 200 from the
in-process view and says so (``scope.backend``), never a 5xx, one warning per outage.

(Prometheus answering is tested against a real one in tests/pipeline/test_prometheus_backend.py.)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.helpers.processes import free_port

OPS = "/internal/monitoring"
PROCESS = "/v1/text_processing/process"
ANSWERS = ("overview", "metrics", "health")


def traffic(client: Any, n: int) -> None:
    for i in range(n):
        response = client.post(PROCESS, json={"text": f"Prometheus is down today. Request {i}.",
                                              "operation": "sentiment"})
        assert response.status_code == 200, response.text


def answers(client: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ANSWERS:
        response = client.get(f"{OPS}/{name}")
        assert response.status_code == 200, response.text
        out[name] = response.json()
    return out


def test_prometheus_refusing_falls_back_to_local_and_says_so(client_for: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="app.monitoring")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    client = client_for(redis_enabled=False, monitoring_query_backend="prometheus", prometheus_url=url)
    traffic(client, 4)
    for _ in range(2):  # again: the same answer, without a second warning
        got = answers(client)
        for name, answer in got.items():
            scope = answer["scope"]
            assert (scope["source"], scope["workers"]) == ("local", 1), name
            assert scope["backend"] == {"configured": "prometheus", "used": "local",
                                        "reason": f"Prometheus at {url}: connection refused"}, name
        assert got["metrics"]["request_metrics"]["total_requests"] == 4
        assert got["overview"]["system_health"]["total_requests"] == 4
    warnings = [r.getMessage() for r in caplog.records if "Prometheus at" in r.getMessage()]
    assert len(warnings) == 1 and "connection refused" in warnings[0], warnings


def test_a_hung_prometheus_costs_one_timeout_then_answers_go_local_at_once(client_for: Any,
                                                                           silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}"  # accepts, never answers
    client = client_for(redis_enabled=False, monitoring_query_backend="prometheus", prometheus_url=url,
                        prometheus_query_timeout_seconds=0.5)
    traffic(client, 2)
    start = time.monotonic()
    first = client.get(f"{OPS}/metrics")
    first_s = time.monotonic() - start
    assert first.status_code == 200 and 0.5 <= first_s < 3.0
    assert first.json()["scope"]["backend"]["reason"] == f"Prometheus at {url}: no answer in 0.5 s"
    assert first.json()["request_metrics"]["total_requests"] == 2
    start = time.monotonic()
    assert client.get(f"{OPS}/overview").json()["scope"]["backend"]["used"] == "local"
    assert time.monotonic() - start < 0.5  # within the retry interval: Prometheus is not waited on again


def test_the_local_backend_says_it_is_local(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    for name, answer in answers(client).items():
        assert answer["scope"]["backend"] == {"configured": "local", "used": "local"}, name
