"""Redis killed and restarted under concurrent load against the service under uvicorn: no 5xx, the
memory tier serves, health goes degraded and comes back healthy, and the process stays bounded."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.helpers.processes import LiveService, RedisServer, free_port

CLIENTS = 4


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(free_port()).start()
    yield server
    server.stop()


def load(url: str, stop: threading.Event, statuses: Counter[int], worker: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            text = f"Worker {worker} sends text {i % 25} while Redis comes and goes."  # repeats: cache hits
            try:
                statuses[client.post("/v1/text_processing/process",
                                     json={"text": text, "operation": "summarize"}).status_code] += 1
            except httpx.HTTPError as exc:
                statuses[-1] += 1  # a transport error is a failed request too
                print(f"transport error: {exc!r}")


def redis_status(url: str) -> str:
    return str(httpx.get(f"{url}/internal/monitoring/health", timeout=10).json()["components"]["redis"]["status"])


def wait_for(check: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout_s}s")


def test_redis_killed_and_restarted_under_load(redis_server: RedisServer) -> None:
    service = LiveService({"REDIS_URL": redis_server.url, "REDIS_RETRY_INTERVAL_SECONDS": "0.5",
                           "METRICS_EXPORT_INTERVAL": "1"}).start()
    stop, statuses = threading.Event(), Counter[int]()
    threads = [threading.Thread(target=load, args=(service.url, stop, statuses, n), daemon=True)
               for n in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: sum(statuses.values()) > 100)
        assert redis_status(service.url) == "healthy"
        rss_before = psutil.Process(service.pid).memory_info().rss

        redis_server.stop()
        during = sum(statuses.values())
        wait_for(lambda: redis_status(service.url) == "degraded")
        wait_for(lambda: sum(statuses.values()) > during + 100)  # still answering, from the memory tier

        redis_server.start()
        wait_for(lambda: redis_status(service.url) == "healthy")
        after = sum(statuses.values())
        wait_for(lambda: sum(statuses.values()) > after + 100)
        rss_after = psutil.Process(service.pid).memory_info().rss
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        service.stop()
    assert set(statuses) == {200}, statuses
    assert rss_after < rss_before * 1.5, (rss_before, rss_after)  # bounded: no queue grew while Redis was away
