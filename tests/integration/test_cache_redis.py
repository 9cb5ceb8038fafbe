"""The cache against a real Redis: shared across app instances, memory tier alone when Redis is away,
and back to Redis when it returns, with no failed request at any point."""

from __future__ import annotations

import time
from typing import Any

import redis

from app.cache.codec import encode
from app.cache.keys import cache_key
from tests.helpers.answers import an_answer, stored
from tests.helpers.processes import RedisServer, free_port

TEXT = "OpenTelemetry gives every request a trace. Prometheus keeps the metrics. Grafana shows both."
PROCESS = "/v1/text_processing/process"


def body(i: int, op: str = "summarize") -> dict[str, Any]:
    return {"text": f"{TEXT} Document number {i}.", "operation": op}


def redis_keys(url: str) -> list[bytes]:
    return list(redis.Redis.from_url(url).scan_iter(match="ai_cache|*"))


def test_redis_tier_is_shared_between_app_instances(client_for: Any, redis_server: RedisServer) -> None:
    first = client_for(redis_url=redis_server.url)
    assert first.post(PROCESS, json=body(1)).json()["cache_hit"] is False
    assert len(redis_keys(redis_server.url)) >= 1
    second = client_for(redis_url=redis_server.url)  # a fresh memory tier: only Redis can answer
    answer = second.post(PROCESS, json=body(1)).json()
    assert answer["cache_hit"] is True
    assert answer["metadata"]["cache_tier"] == "redis"


def test_without_redis_the_memory_tier_serves(client_for: Any) -> None:
    client = client_for(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert client.post(PROCESS, json=body(2)).json()["cache_hit"] is False
    again = client.post(PROCESS, json=body(2))
    assert again.status_code == 200
    assert again.json()["cache_hit"] is True
    assert again.json()["metadata"]["cache_tier"] == "memory"
    health = client.get("/internal/monitoring/health").json()
    assert health["components"]["redis"]["status"] == "degraded"
    assert health["overall_status"] == "degraded"


def test_statistics_count_lookups_not_writes(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    for i in range(4):
        client.post(PROCESS, json=body(100 + i))  # 4 misses (and 4 writes)
    for i in range(4):
        client.post(PROCESS, json=body(100 + i))  # 4 hits
    client.post(PROCESS, json=body(100))  # 5th hit
    stats = client.get("/internal/cache/stats").json()["performance"]
    assert (stats["hits"], stats["misses"], stats["total_lookups"]) == (5, 4, 9)
    assert stats["hit_ratio"] == round(100 * 5 / 9, 3)
    overview = client.get("/internal/monitoring/overview").json()
    assert overview["cache_performance"]["stats"]["hit_ratio"] == stats["hit_ratio"]


def test_redis_going_away_and_coming_back_mid_traffic(client_for: Any) -> None:
    server = RedisServer(free_port()).start()
    try:
        client = client_for(redis_url=server.url)
        statuses: list[int] = []
        for i in range(5):
            statuses.append(client.post(PROCESS, json=body(200 + i)).status_code)
        assert len(redis_keys(server.url)) == 5

        server.stop()
        for i in range(5, 10):  # new texts while Redis is down: answered, kept in memory
            statuses.append(client.post(PROCESS, json=body(200 + i)).status_code)
        repeat = client.post(PROCESS, json=body(207))
        statuses.append(repeat.status_code)
        assert repeat.json()["cache_hit"] is True and repeat.json()["metadata"]["cache_tier"] == "memory"
        health = client.get("/internal/monitoring/health").json()
        assert health["components"]["redis"]["status"] == "degraded"

        server.start()
        time.sleep(0.3)  # past redis_retry_interval_seconds: the next call probes Redis again
        for i in range(10, 13):
            statuses.append(client.post(PROCESS, json=body(200 + i)).status_code)
        assert statuses == [200] * len(statuses)
        assert len(redis_keys(server.url)) == 3  # a restarted Redis without persistence: only the new ones
        health = client.get("/internal/monitoring/health").json()
        assert health["components"]["redis"]["status"] == "healthy"
        assert health["components"]["redis"]["connected"] is True
    finally:
        server.stop()


def test_a_command_redis_refuses_is_that_requests_miss_not_an_outage(
        client_for: Any, redis_server: RedisServer, caplog: Any) -> None:
    """Another writer left a list under the key of a request: GET answers WRONGTYPE. That request
    is answered (a miss), the Redis tier stays up for the others, and no key or value is reported."""

    secret = body(300)
    key = cache_key("summarize", secret["text"])
    redis.Redis.from_url(redis_server.url).lpush(key, "a value another writer left")
    client = client_for(redis_url=redis_server.url)
    answer = client.post(PROCESS, json=secret)
    assert answer.status_code == 200 and answer.json()["cache_hit"] is False
    health = client.get("/internal/monitoring/health").json()
    assert health["components"]["redis"]["status"] == "healthy", health["components"]["redis"]
    client.post(PROCESS, json=body(301))
    fresh = client_for(redis_url=redis_server.url)  # Redis kept serving: the next entry is there
    assert fresh.post(PROCESS, json=body(301)).json()["metadata"]["cache_tier"] == "redis"
    reported = caplog.text + answer.text + client.get("/internal/cache/stats").text
    assert "WRONGTYPE" not in caplog.text and key not in reported and "another writer" not in reported
    assert "ResponseError" in caplog.text


def test_a_restored_ttl_is_bounded_by_its_operations(client_for: Any, redis_server: RedisServer) -> None:
    client = client_for(redis_url=redis_server.url)
    client.post(PROCESS, json=body(310))
    backup = client.get("/internal/cache/backup").json()
    for entry in backup["entries"]:
        entry["ttl_ms"] = 10**19  # Redis refuses such an expiry
    client.post("/internal/cache/clear")
    restored = client.post("/internal/cache/restore", json=backup).json()
    assert restored["restored"] == len(backup["entries"]) and restored["redis"] == "ok", restored
    ttls = [redis.Redis.from_url(redis_server.url).pttl(k) for k in redis_keys(redis_server.url)]
    assert ttls and all(0 < t <= 2 * 3600 * 1000 for t in ttls)  # summarize lives 2 h
    assert client.get("/internal/monitoring/health").json()["components"]["redis"]["status"] == "healthy"


def test_a_value_that_does_not_fit_the_answer_is_a_miss_not_a_500(
        client_for: Any, redis_server: RedisServer, caplog: Any) -> None:
    """An older version left its value (with an ``operation`` key) under this request's key: the request
    is answered fresh, the entry replaced, the miss counted in the stats and logged without the value."""
    request = body(320)
    key = cache_key("summarize", request["text"])
    older = {"operation": "summarize", "result": "an older version's summary", "sentiment": None,
             "key_points": None, "questions": None, "metadata": {}}
    server = redis.Redis.from_url(redis_server.url)
    server.set(key, encode(older, 1000, 6), ex=600)
    client = client_for(redis_url=redis_server.url)
    answer = client.post(PROCESS, json=request)
    assert answer.status_code == 200, answer.text
    assert answer.json()["cache_hit"] is False and "older version" not in answer.text
    tiers = client.get("/internal/cache/stats").json()["tiers"]
    assert tiers["invalid_entries"] == {"total": 1, "not_an_answer": 1}
    assert b"older version" not in server.get(key)  # replaced by this answer
    again = client_for(redis_url=redis_server.url).post(PROCESS, json=request).json()
    assert again["cache_hit"] is True and again["metadata"]["cache_tier"] == "redis"
    assert key in caplog.text and "older version" not in caplog.text


def test_an_entry_expired_in_redis_is_not_served_from_memory(client_for: Any, redis_server: RedisServer) -> None:
    """An entry with 400 ms left in Redis is copied to the memory tier for no longer than that: once
    Redis has expired it, the next request is answered fresh (it was served from memory for 300 s)."""
    request = body(330)
    key = cache_key("summarize", request["text"])
    server = redis.Redis.from_url(redis_server.url)
    server.set(key, stored(an_answer("a summary that expires soon")), px=400)
    client = client_for(redis_url=redis_server.url)
    first = client.post(PROCESS, json=request).json()
    assert first["cache_hit"] is True and first["metadata"]["cache_tier"] == "redis"
    deadline = time.monotonic() + 10
    while server.exists(key) and time.monotonic() < deadline:  # poll until Redis expired it
        time.sleep(0.02)
    assert not server.exists(key)
    again = client.post(PROCESS, json=request).json()
    assert again["cache_hit"] is False and again["result"] != "a summary that expires soon"
