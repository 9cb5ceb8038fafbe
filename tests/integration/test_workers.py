"""Many workers, one service: the runbook answers add up every worker's measurements through Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from app.monitoring.cluster import NAMESPACE, ClusterView
from instrumentation import Telemetry, TelemetryConfig, build_telemetry
from instrumentation.reader import SnapshotHistory
from instrumentation.snapshot import Snapshot
from tests.helpers.processes import ROOT, LiveService, RedisServer
from tests.helpers.webhook_receiver import wait_until

HOUR = 3600.0
T0 = 1_700_000_000.0
PROCESS = "/v1/text_processing/process"
METRICS = "/internal/monitoring/metrics?time_window_hours=1"
CACHE_STATS = "/internal/cache/stats"
OVERVIEW = "/internal/monitoring/overview"


# -- the cluster view against a real Redis, in-process, on a clock the test moves


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Instance:
    """One worker's telemetry, history and cluster view, on the test's clock."""

    def __init__(self, name: str, url: str, clock: Clock) -> None:
        self.name = name
        self.telemetry: Telemetry = build_telemetry(TelemetryConfig(service_name="workers-test"))
        self.history = SnapshotHistory(self.telemetry.reader, 60.0, 168 * HOUR, clock=clock)
        self.view = ClusterView(url, "workers-test", name, self.history, 0.5, 0.2, clock=clock)
        self.clock = clock

    def requests(self, n: int) -> None:
        for _ in range(n):
            self.telemetry.instruments.cache_lookups.add(1, {"llm_obs.cache.result": "hit"})

    def tick(self) -> Snapshot:
        snapshot = self.history.record()
        assert self.view.sync(), self.view.last_error
        return snapshot

    def seen(self) -> dict[str, float]:
        """The lookups each other instance had at its latest snapshot, as this one sees them."""
        members = self.view.members()
        assert members is not None
        return {m.id: m.snapshots[-1].values.get(("llm_obs.cache.lookups", (("llm_obs.cache.result", "hit"),)), 0.0)
                for m in members if m.snapshots}

    def close(self) -> None:
        self.telemetry.shutdown()


@pytest.fixture
def instances(redis_url: str) -> Iterator[Callable[[str, Clock], Instance]]:
    made: list[Instance] = []

    def make(name: str, clock: Clock) -> Instance:
        made.append(Instance(name, redis_url, clock))
        return made[-1]

    yield make
    for instance in made:
        instance.close()


def test_each_instance_reads_the_others_snapshots_as_they_were(instances: Any) -> None:
    clock = Clock()
    a, b = instances("a", clock), instances("b", clock)
    a.requests(5)
    published = a.tick()
    b.tick()
    ((member,),) = [b.view.members()]
    assert member.id == "a" and member.snapshots[-1] == published and b.seen() == {"a": 5.0}
    clock.now += 60
    a.requests(2)
    a.tick()
    b.tick()
    assert b.seen() == {"a": 7.0} and len(b.view.members()[0].snapshots) == 2  # only the new one fetched


def test_redis_holds_what_the_local_history_holds_and_expires_with_the_retention(instances: Any,
                                                                                  redis_url: str) -> None:
    clock = Clock()
    a = instances("a", clock)
    for _ in range(150):  # 2.5 hours at one a minute: older than an hour is thinned to one per 5 minutes
        a.tick()
        clock.now += 60
    client = redis.Redis.from_url(redis_url)
    key = f"{NAMESPACE}:workers-test:snapshots:a"
    stored = [score for _, score in client.zrange(key, 0, -1, withscores=True)]
    assert stored == [s.timestamp for s in a.history.snapshots()]
    assert 60 + 18 <= len(stored) < 100
    assert 167 * HOUR < client.ttl(key) <= 168 * HOUR
    assert 167 * HOUR < client.ttl(f"{NAMESPACE}:workers-test:instances") <= 168 * HOUR
    client.close()


def test_a_stopped_worker_stays_counted_while_its_peers_run_but_a_restarted_service_starts_clean(
        instances: Any) -> None:
    clock = Clock()
    a, b = instances("a", clock), instances("b", clock)
    a.requests(4)
    a.tick()
    b.tick()
    assert b.view.leads() is False and a.view.leads() is True  # the oldest live one reports alerts
    a.view.leave()  # a clean stop publishes its last counts
    clock.now += 30
    b.tick()
    assert b.seen() == {"a": 4.0}
    (member,) = b.view.members()
    assert member.left and not member.live(clock.now) and b.view.leads() is True

    clock.now += 600  # later, the whole service restarted: a new worker meets none of the old ones alive
    b.view.leave()
    fresh = instances("c", Clock(clock.now + 60))
    fresh.tick()
    assert fresh.view.members() == ()


def test_without_redis_the_view_is_unavailable_and_comes_back(instances: Any, redis_server: RedisServer) -> None:
    clock = Clock()
    a, b = instances("a", clock), instances("b", clock)
    a.tick()
    b.tick()
    redis_server.stop()
    try:
        assert b.view.sync() is False and b.view.members() is None and b.view.leads() is True
        assert "Error" in (b.view.last_error or "")
    finally:
        redis_server.start()
    clock.now += 1  # past the pause after a failure
    a.requests(3)
    a.tick()
    b.tick()
    assert b.seen() == {"a": 3.0}


# -- three real uvicorn workers


def get(service: LiveService, path: str) -> dict[str, Any]:
    response = httpx.get(service.url + path, timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def this_worker(scope: dict[str, Any]) -> dict[str, Any]:
    (own,) = [i for i in scope["instances"] if i["this_worker"]]
    return own


def test_without_redis_one_worker_answers_from_its_own_history() -> None:
    service = LiveService({"REDIS_ENABLED": "false", "METRICS_EXPORT_INTERVAL": "1"}).start()
    try:
        for i in range(3):
            httpx.post(service.url + PROCESS, json={"text": f"Alone here. {i}.", "operation": "sentiment"}, timeout=30)
        metrics = get(service, METRICS)
        assert metrics["request_metrics"]["total_requests"] == 3
        scope = metrics["scope"]
        assert (scope["source"], scope["workers"]) == ("local", 1)
        assert [i["requests"] for i in scope["instances"]] == [3] and "Redis not configured" in scope["note"]
        assert get(service, OVERVIEW)["scope"]["source"] == "local"
    finally:
        service.stop()


def test_workers_setting_is_validated() -> None:
    done = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "WORKERS": "0"})
    assert done.returncode == 2 and "WORKERS" in done.stderr


@pytest.fixture(scope="module")
def workers(redis_server: RedisServer) -> Iterator[LiveService]:
    """One service of three workers for the tests below (each checks what it changed, not totals of others)."""
    redis.Redis.from_url(redis_server.url).flushdb()
    service = LiveService({"REDIS_URL": redis_server.url, "WORKERS": "3", "METRICS_EXPORT_INTERVAL": "1"}).start(60)
    try:
        wait_until(lambda: get(service, METRICS)["scope"]["workers"] == 3, timeout_s=30, what="three workers")
        yield service
    finally:
        service.stop()


def test_three_workers_answer_for_the_whole_service(workers: LiveService) -> None:
    n = 24
    for i in range(n):  # a new connection each: the kernel hands them to different workers
        text = f"Workers share their numbers through Redis. Request {i % 16}."  # 16 misses, then 8 hits
        response = httpx.post(workers.url + PROCESS, json={"text": text, "operation": "sentiment"}, timeout=30)
        assert response.status_code == 200, response.text

    def answers() -> tuple[int, int, str, dict[str, Any]]:
        metrics, stats = get(workers, METRICS), get(workers, CACHE_STATS)
        return (metrics["request_metrics"]["total_requests"], stats["performance"]["total_lookups"],
                this_worker(metrics["scope"])["id"], metrics["scope"])

    # a worker's snapshot is published on its next tick and read by the others on theirs
    wait_until(lambda: all(answers()[:2] == (n, n) for _ in range(6)), timeout_s=20,
               what="every worker to count every request")
    # which worker accepts a connection is the kernel's choice: a busy machine can hand one worker many
    # in a row, so ask until two have answered (or 60 times)
    seen: list[tuple[int, int, str, dict[str, Any]]] = []
    while len(seen) < 60 and (len(seen) < 15 or len({worker for _, _, worker, _ in seen}) < 2):
        seen.append(answers())
    assert all((requests, lookups) == (n, n) for requests, lookups, _, _ in seen), seen
    answered_by = {worker for _, _, worker, _ in seen}
    assert len(answered_by) >= 2, "every answer came from one worker: the test proves nothing"

    scope = seen[-1][3]
    assert scope["source"] == "redis" and scope["workers"] == 3
    assert len({i["id"] for i in scope["instances"]}) == 3
    per_worker = [i["requests"] for i in scope["instances"]]
    assert sum(per_worker) == n and sum(1 for r in per_worker if r > 0) >= 2, per_worker  # they really spread
    hits = get(workers, CACHE_STATS)["performance"]
    assert (hits["total_lookups"], hits["hits"]) == (n, n - 16)  # a repeat is a hit on any worker (Redis tier)


def test_maintenance_enabled_through_one_worker_is_seen_by_the_others(workers: LiveService) -> None:
    enabled = httpx.post(workers.url + "/internal/monitoring/maintenance-mode/enable",
                         json={"reason": "rolling upgrade", "duration_minutes": 10}, timeout=10).json()
    assert enabled["shared_by_all_workers"] is True
    by = ":".join(enabled["started_by"].split(":")[:2])  # host:pid of the worker that took it

    def other_worker_sees_it() -> bool:
        overview = get(workers, OVERVIEW)
        assert overview["maintenance"]["enabled"] is True and overview["maintenance"]["reason"] == "rolling upgrade"
        return bool(this_worker(overview["scope"])["process"] != by)

    wait_until(other_worker_sees_it, timeout_s=20, what="an answer from a worker other than the one that enabled it")
    httpx.post(workers.url + "/internal/monitoring/maintenance-mode/disable", timeout=10)
