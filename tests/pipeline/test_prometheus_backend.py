"""MONITORING_QUERY_BACKEND=prometheus against the real pipeline: a service of two uvicorn workers
exports to the Collector, Prometheus scrapes it, and the runbook answers with Prometheus' numbers for
the whole service (both workers), saying so in ``scope``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.monitoring import prometheus_window as pw
from instrumentation.instruments import PROCESS_MEMORY
from tests.helpers.processes import LiveService, RedisServer

from .stack import SETUP_TIMEOUT, Stack, poll, prom_api, service_env

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]

OPS = "/internal/monitoring"
PROCESS = "/v1/text_processing/process"
REQUESTS = 12  # 8 texts: 8 misses, then 4 hits
DISTINCT = 8


@pytest.fixture(scope="module")
def service(stack: Stack, redis_server: RedisServer) -> Iterator[tuple[LiveService, str]]:
    name = f"prom-backend-{uuid.uuid4().hex[:8]}"
    live = LiveService(service_env(stack, redis_server.url, name, MONITORING_QUERY_BACKEND="prometheus",
                                   WORKERS="2")).start(60)
    try:
        yield live, name
    finally:
        live.stop()


def get(live: LiveService, path: str) -> dict[str, Any]:
    response = httpx.get(live.url + path, timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_runbook_answers_with_prometheus_numbers_for_every_worker(stack: Stack,
                                                                  service: tuple[LiveService, str]) -> None:
    live, name = service
    run = uuid.uuid4().hex[:6]
    for i in range(REQUESTS):  # a new connection each: the kernel spreads them over the workers
        text = f"Prometheus answers for every worker. Run {run}, text {i % DISTINCT}."
        response = httpx.post(live.url + PROCESS, json={"text": text, "operation": "sentiment"}, timeout=30)
        assert response.status_code == 200, response.text

    def in_prometheus() -> bool:
        found = stack.query(f'sum(http_server_request_duration_seconds_count{{job="{name}", http_route="{PROCESS}"}})')
        return bool(found) and float(found[0]["value"][1]) == REQUESTS

    poll(in_prometheus, f"{REQUESTS} requests of {name} in Prometheus")

    def metrics_from_prometheus() -> dict[str, Any] | None:
        answer = get(live, f"{OPS}/metrics")
        scope = answer["scope"]
        done = scope["source"] == "prometheus" and answer["request_metrics"]["total_requests"] == REQUESTS
        return answer if done else None

    metrics = poll(metrics_from_prometheus, "/metrics answered from Prometheus with every request")
    scope = metrics["scope"]
    assert scope["backend"]["configured"] == scope["backend"]["used"] == "prometheus"
    assert "reason" not in scope["backend"]
    assert scope["prometheus"] == {"url": stack.prometheus, "job": name}
    assert metrics["cache_metrics"]["total_lookups"] == REQUESTS
    assert (metrics["cache_metrics"]["hits"], metrics["cache_metrics"]["misses"]) == (REQUESTS - DISTINCT, DISTINCT)
    assert metrics["request_metrics"]["error_requests"] == 0
    assert 0 < metrics["window"]["covered_seconds"] < 3600  # what Prometheus holds of a young service
    routes = {r["route"]: r["requests"] for r in metrics["request_metrics"]["by_route"]}
    assert routes[PROCESS] == REQUESTS

    # Both workers are in Prometheus, and their requests add up to the traffic.
    def both_workers() -> dict[str, Any] | None:
        answer = get(live, f"{OPS}/overview")
        return answer if answer["scope"]["source"] == "prometheus" and answer["scope"]["workers"] == 2 else None

    overview = poll(both_workers, "both workers reporting to Prometheus")
    assert overview["system_health"]["total_requests"] == REQUESTS
    assert overview["cache_performance"]["stats"]["total_lookups"] == REQUESTS
    instances = overview["scope"]["instances"]
    assert sum(i["requests"] for i in instances) == REQUESTS
    assert sum(1 for i in instances if i["this_worker"]) == 1

    health = get(live, f"{OPS}/health")
    assert health["scope"]["source"] == "prometheus" and health["overall_status"] in ("healthy", "degraded")


def test_the_data_start_is_found_when_asked_just_after_the_first_scrape(stack: Stack,
                                                                        service: tuple[LiveService, str]) -> None:
    """A service scraped once: every sample is after the last step the subqueries evaluate at (the
    race a young service loses about one time in four). Asked at that moment, the window still
    begins at the first sample, never an hour back."""
    _live, name = service
    memory = next(s for s in pw.SERIES if s.name == PROCESS_MEMORY).metric

    def first_sample() -> float | None:
        raw = prom_api(stack.prometheus, "query", query=f'{memory}{{job="{name}"}}[1h]')
        stamps = [float(t) for series in raw["result"] for t, _v in series["values"]]
        return min(stamps) if stamps else None

    t0 = poll(first_sample, f"a scrape of {name} in Prometheus")
    at = t0 + 0.001  # after the sample, before the next aligned subquery step (unless t0 sits on one)
    answer = prom_api(stack.prometheus, "query", query=pw.queries(name, 3600)[pw.DATA_START], time=f"{at:.3f}")
    begins = [float(item["value"][1]) for item in answer["result"]]
    assert begins and t0 <= min(begins) <= at
    window = pw.window({pw.DATA_START: [({}, b) for b in begins]}, at, 3600)
    assert 0 <= window.seconds <= 0.01  # what Prometheus held then: one sample's worth
