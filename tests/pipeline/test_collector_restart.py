"""The Collector dies mid-traffic (SIGKILL): no request fails; when it is back, data flows again and,
the SDK's counters being cumulative, Prometheus counts every request, those of the outage included."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.helpers.processes import LiveService, RedisServer

from .stack import SETUP_TIMEOUT, Stack, TrafficLoop, poll, service_env

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]


def test_collector_killed_mid_traffic_fails_no_request_and_data_flows_after_restart(
        new_stack: Callable[..., Stack], redis_server: RedisServer) -> None:
    stack = new_stack()
    name = f"pipeline-restart-{uuid.uuid4().hex[:8]}"
    promql = (f'sum(http_server_request_duration_seconds_count{{job="{name}",'
              'http_route="/v1/text_processing/process"})')

    def counted() -> float:
        result = stack.query(promql)
        return float(result[0]["value"][1]) if result else 0.0

    service = LiveService(service_env(stack, redis_server.url, name)).start()
    try:
        texts = [f"Text number {n} about the Collector going away and coming back." for n in range(7)]
        body = lambda i: {"text": texts[i % len(texts)], "operation": "summarize"}  # noqa: E731
        with TrafficLoop(service.url, body, interval=0.1) as loop:
            before = poll(counted, f"{promql} before the kill")
            stack.kill()
            killed_at = len(loop.statuses)
            # Several export intervals (2 s) with the Collector gone: traces and metrics exports fail.
            poll(lambda: len(loop.statuses) >= killed_at + 30, "requests while the Collector is down")
            with pytest.raises(httpx.ConnectError):  # really gone
                httpx.post(f"{stack.otlp_http}/v1/metrics", timeout=2)
            stack.script("collector.sh", "start")
            restarted_at = len(loop.statuses)
            poll(lambda: len(loop.statuses) >= restarted_at + 10, "requests after the restart")
        statuses = loop.statuses
        assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
        # Data flows again: the counter moves past its last value before the kill, up to every request
        # sent (the SDK exports cumulative totals: the outage's requests are not lost).
        after = poll(lambda: (v := counted()) >= len(statuses) and v, f"{promql} to reach {len(statuses)}")
        assert after == len(statuses) and after > before
        print(f"collector restart: {before:.0f} counted before the kill, {restarted_at - killed_at} requests "
              f"during the outage, {after:.0f} counted after the restart ({time.strftime('%X')})")
    finally:
        service.stop()
