"""/internal/cache analysis and maintenance against a real Redis: what an operator sees after traffic,
with Redis away, and through a backup, clear and restore."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from app.cache import answer as answer_model
from app.cache import runbook as cache_runbook
from app.cache.backup import document
from app.cache.keys import cache_key
from app.cache.memory import MemoryTier
from app.cache.tiered import TieredCache
from app.infra.redis import RedisTier
from instrumentation import Telemetry
from tests.helpers.answers import an_answer, backup_value, bomb, stored
from tests.helpers.processes import RedisServer, free_port

PROCESS = "/v1/text_processing/process"
CACHE = "/internal/cache"
TEXT = "Traces, metrics and logs describe one request from three sides. Text {i}."


def body(i: int, op: str = "summarize") -> dict[str, Any]:
    return {"text": TEXT.format(i=i), "operation": op}


def redis_keys(url: str) -> list[bytes]:
    return list(redis.Redis.from_url(url).scan_iter(match="ai_cache|*"))


def flush(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


def test_analysis_after_traffic_per_operation_and_tier(client_for: Any, redis_server: RedisServer) -> None:
    flush(redis_server.url)
    first = client_for(redis_url=redis_server.url)
    for i in range(4):
        first.post(PROCESS, json=body(i))
        first.post(PROCESS, json=body(i))  # a miss, then a memory hit
    first.post(PROCESS, json=body(0, "sentiment"))
    second = client_for(redis_url=redis_server.url)  # a fresh memory tier: its hits come from Redis
    for i in range(4):
        second.post(PROCESS, json=body(i))

    a = second.get(f"{CACHE}/performance-analysis").json()
    assert a["by_operation"]["summarize"] == {"lookups": 4, "hits": 4, "misses": 0, "hit_ratio": 100.0,
                                              "ttl_ms": 7_200_000}
    assert a["by_tier"]["redis"] == {"hits": 4, "share_of_hits": 100.0}
    assert a["redis"]["available"] is True and a["redis"]["latency"]["by_command"]["PIPELINE"]["count"] >= 4  # GET+PTTL
    assert a["lookup_latency"]["get"]["count"] == 4 and a["lookup_latency"]["get"]["p95_ms"] > 0
    assert a["memory_tier"]["live_entries"] == 4  # the local copies of the Redis hits
    assert {v["name"] for v in a["kpis"]} >= {"CacheHitRatioLow", "RedisLatencyHigh"}

    own = first.get(f"{CACHE}/performance-analysis").json()  # each app reads its own telemetry
    assert own["by_operation"]["summarize"]["hit_ratio"] == 50.0
    assert own["by_operation"]["sentiment"]["misses"] == 1
    assert own["by_tier"]["memory"]["hits"] == 4


def test_low_hit_ratio_and_evictions_become_recommendations(client_for: Any) -> None:
    client = client_for(redis_enabled=False, cache_memory_max_entries=5)
    for i in range(25):
        client.post(PROCESS, json=body(100 + i))  # 25 distinct texts: 25 misses, 20 evictions
    report = client.get(f"{CACHE}/optimization-recommendations").json()

    by_category = {r["category"]: r for r in report["recommendations"]}
    assert by_category["hit_ratio"]["evidence"]["operation"] == "summarize"
    assert "0% over 25 lookups" in by_category["hit_ratio"]["reason"]
    assert "2 h" in by_category["hit_ratio"]["action"]
    assert "CACHE_MEMORY_MAX_ENTRIES (now 5 entries)" in by_category["memory_tier"]["action"]
    assert by_category["memory_tier"]["evidence"]["evictions"] == 20
    assert by_category["redis"]["priority"] == "low"  # disabled on purpose: a note, not an alarm
    assert [r["priority"] for r in report["recommendations"]] == sorted(
        (r["priority"] for r in report["recommendations"]), key=["high", "medium", "low"].index)


def test_all_well_gives_an_empty_list_with_a_note(client_for: Any, redis_server: RedisServer) -> None:
    client = client_for(redis_url=redis_server.url)
    report = client.get(f"{CACHE}/optimization-recommendations").json()
    assert report["recommendations"] == [] and report["total"] == 0
    assert report["note"].startswith("Nothing to change")


def test_redis_away_is_reported_and_nothing_fails(client_for: Any) -> None:
    client = client_for(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client.post(PROCESS, json=body(1))
    recs = client.get(f"{CACHE}/optimization-recommendations").json()["recommendations"]
    assert recs[0]["category"] == "redis" and recs[0]["priority"] == "high"
    assert "memory tier only" in recs[0]["reason"]
    assert client.get(f"{CACHE}/performance-analysis").json()["redis"]["available"] is False

    cleared = client.post(f"{CACHE}/clear")
    assert cleared.status_code == 200
    assert cleared.json()["cleared"]["memory"] == 1 and cleared.json()["redis"] == "unavailable"
    assert cleared.json()["warnings"]
    backup = client.get(f"{CACHE}/backup")
    assert backup.status_code == 200 and backup.json()["redis"] == "unavailable"


def planted(client: Any, *ttls_ms: int) -> dict[str, Any]:
    """Entries restored with the given TTLs: the only way to get entries that expire within a test.
    The backup is dated in the future, which counts no time against the TTLs: they start at the restore."""
    blob = backup_value(an_answer("planted " * 20))
    doc = {"version": 1, "created_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
           "entries": [{"key": cache_key("qa", f"planted {i}"), "value": blob, "ttl_ms": ttl}
                       for i, ttl in enumerate(ttls_ms)]}
    answer = client.post(f"{CACHE}/restore", json=doc)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_cleanup_purges_expired_entries_and_reports_memory(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    assert planted(client, 150, 150, 150, 600_000)["restored"] == 4
    time.sleep(0.16)
    report = client.post(f"{CACHE}/cleanup").json()
    assert report["expired_entries_removed"] == 3
    assert report["bytes_freed"] > 3 * 64
    assert report["memory_before"]["entries"] == 4 and report["memory_after"]["entries"] == 1
    assert report["memory_after"]["memory_mb"] < report["memory_before"]["memory_mb"]
    assert client.post(f"{CACHE}/cleanup").json()["expired_entries_removed"] == 0


def test_backup_clear_restore_round_trip(client_for: Any, redis_server: RedisServer) -> None:
    flush(redis_server.url)
    client = client_for(redis_url=redis_server.url)
    for i in range(3):
        client.post(PROCESS, json=body(300 + i))
    client.post(PROCESS, json={"text": "A long text to compress. " * 100, "operation": "key_points"})

    backup = client.get(f"{CACHE}/backup").json()
    assert backup["version"] == 1 and backup["counts"] == {"total": 4, "memory": 4, "redis": 4}
    assert all(0 < e["ttl_ms"] <= 7_200_000 for e in backup["entries"])

    cleared = client.post(f"{CACHE}/clear").json()
    assert cleared["cleared"] == {"memory": 4, "redis": 4, "total": 8} and cleared["redis"] == "ok"
    assert redis_keys(redis_server.url) == []
    assert client.post(PROCESS, json=body(300)).json()["cache_hit"] is False
    client.post(f"{CACHE}/clear")

    restored = client.post(f"{CACHE}/restore", json=backup).json()
    assert (restored["restored"], restored["skipped"], restored["tiers"]) == (4, 0, {"memory": 4, "redis": 4})
    assert len(redis_keys(redis_server.url)) == 4
    pttl = redis.Redis.from_url(redis_server.url).pttl(cache_key("summarize", TEXT.format(i=301)))
    original = next(e["ttl_ms"] for e in backup["entries"] if e["key"] == cache_key("summarize", TEXT.format(i=301)))
    assert 0 < pttl <= original  # the remaining TTL, not a fresh one
    again = client.post(PROCESS, json=body(301)).json()
    assert again["cache_hit"] is True
    fresh = client_for(redis_url=redis_server.url)  # Redis got the entries, not only this process
    assert fresh.post(PROCESS, json=body(302)).json()["metadata"]["cache_tier"] == "redis"


def test_restore_skips_entries_expired_since_the_backup(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    blob = backup_value(an_answer("old"))
    doc = {"version": 1, "created_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
           "entries": [{"key": cache_key("qa", "gone"), "value": blob, "ttl_ms": 60_000},
                       {"key": cache_key("sentiment", "kept"), "value": blob, "ttl_ms": 86_400_000}]}
    report = client.post(f"{CACHE}/restore", json=doc).json()
    assert (report["restored"], report["skipped"]) == (1, 1)
    assert report["skipped_reasons"]["expired_since_backup"] == 1


def test_malformed_backups_get_422_with_the_reason(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    now = datetime.now(UTC).isoformat()
    bad_key = {"version": 1, "created_at": now,
               "entries": [{"key": "someone_else|x", "value": backup_value(an_answer("x")), "ttl_ms": 10}]}
    cases = [({"created_at": now, "entries": []}, "version"), (bad_key, "should match pattern"),
             ({"version": 1, "created_at": now, "entries": "all of them"}, "valid list"),
             ({"version": 1, "created_at": 0, "entries": []}, "ISO 8601")]
    for doc, reason in cases:
        answer = client.post(f"{CACHE}/restore", json=doc)
        assert answer.status_code == 422 and reason in answer.text, answer.text
    broken = client.post(f"{CACHE}/restore", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "JSON" in broken.text
    assert client.get(f"{CACHE}/backup").json()["counts"]["total"] == 0  # nothing half-restored


def test_bad_window_is_a_422(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    for path in ("performance-analysis", "optimization-recommendations"):
        answer = client.get(f"{CACHE}/{path}?time_window_hours=0")
        assert answer.status_code == 422 and "greater than 0" in answer.text


def test_a_restore_leaves_out_each_hostile_value_and_restores_the_rest(
        client_for: Any, redis_server: RedisServer, monkeypatch: Any) -> None:
    """A bomb (64 MiB of JSON in 64 KB), bad zlib, an older version's shape: each left out and counted,
    never a 500; the good entries reach both tiers and are served. The values are read off the event
    loop, a few entries at a time (a part of 3 here)."""
    read = answer_model.read
    on_the_loop: list[bool] = []

    def spy(blob: bytes, max_bytes: int) -> Any:
        try:
            asyncio.get_running_loop()
            on_the_loop.append(True)
        except RuntimeError:  # no loop runs in this thread: a worker's
            on_the_loop.append(False)
        return read(blob, max_bytes)

    monkeypatch.setattr(answer_model, "read", spy)
    monkeypatch.setattr(cache_runbook, "RESTORE_PART", 3)
    flush(redis_server.url)
    client = client_for(redis_url=redis_server.url)
    good = [{"key": cache_key("summarize", TEXT.format(i=400 + i)), "value": backup_value(an_answer(f"kept {i}")),
             "ttl_ms": 600_000} for i in range(4)]
    hostile = [base64.b64encode(bomb(64 << 20)).decode(), base64.b64encode(b"Zbroken").decode(),
               backup_value({**an_answer("older"), "operation": "summarize"})]
    doc = {"version": 1, "created_at": datetime.now(UTC).isoformat(),
           "entries": [good[0], good[1], *({"key": cache_key("qa", f"bad {i}"), "value": v, "ttl_ms": 600_000}
                                           for i, v in enumerate(hostile)), good[2], good[3]]}
    answer = client.post(f"{CACHE}/restore", json=doc)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["restored"], report["skipped"], report["tiers"]) == (4, 3, {"memory": 4, "redis": 4})
    assert {k: v for k, v in report["skipped_reasons"].items() if v} == {
        "value_too_large": 1, "value_corrupt": 1, "value_not_an_answer": 1}
    assert "3 entries were left out" in report["warnings"][0]
    assert sorted(redis_keys(redis_server.url)) == sorted(e["key"].encode() for e in good)
    served = client_for(redis_url=redis_server.url).post(PROCESS, json=body(402)).json()
    assert served["cache_hit"] is True and served["result"] == "kept 2"
    restore_reads = on_the_loop[:len(doc["entries"])]
    assert len(restore_reads) == 7 and not any(restore_reads), "a backup value was read on the event loop"


def test_a_bomb_in_redis_is_a_miss_not_a_memory_spike(client_for: Any, redis_server: RedisServer) -> None:
    """Another writer left a small value that inflates to 16 MiB under this request's key: it is read to
    CACHE_MAX_VALUE_BYTES and no further, counted, and the request answered fresh."""
    request = body(410)
    key = cache_key("summarize", request["text"])
    redis.Redis.from_url(redis_server.url).set(key, bomb(16 << 20), ex=600)
    client = client_for(redis_url=redis_server.url)
    answer = client.post(PROCESS, json=request)
    assert answer.status_code == 200 and answer.json()["cache_hit"] is False
    assert len(answer.content) < 10_000
    assert client.get(f"{CACHE}/stats").json()["tiers"]["invalid_entries"] == {"total": 1, "too_large": 1}


def plant(url: str, count: int) -> list[str]:
    """``count`` entries written to Redis as another worker would: what clear and backup must find."""
    server = redis.Redis.from_url(url)
    keys = [cache_key("sentiment", f"planted in Redis {i}") for i in range(count)]
    pipe = server.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, stored(an_answer("positive")), ex=600)
    pipe.execute()
    return keys


def test_clear_and_backup_walk_the_whole_keyspace_batch_by_batch(
        client_for: Any, redis_server: RedisServer) -> None:
    """120 keys and SCAN steps of 50: every key is backed up and cleared, and the answers say they
    covered everything (they stopped at a cap of 100,000 keys, and said success)."""
    flush(redis_server.url)
    keys = plant(redis_server.url, 120)
    redis.Redis.from_url(redis_server.url).set("someone_else|key", b"kept")
    client = client_for(redis_url=redis_server.url, cache_scan_batch_size=50)

    backup = client.get(f"{CACHE}/backup").json()
    assert backup["complete"] is True and backup["counts"]["redis"] == 120 and backup["warnings"] == []
    assert sorted(e["key"] for e in backup["entries"]) == sorted(keys)
    scans = client.get(f"{CACHE}/performance-analysis").json()["redis"]["latency"]["by_command"]["SCAN"]
    assert scans["count"] >= 3, "the keyspace was not walked in steps of about 50 keys"

    cleared = client.post(f"{CACHE}/clear").json()
    assert cleared["complete"] is True and cleared["cleared"]["redis"] == 120 and cleared["warnings"] == []
    assert redis_keys(redis_server.url) == []
    assert redis.Redis.from_url(redis_server.url).get("someone_else|key") == b"kept"


async def test_a_backup_past_what_a_restore_takes_says_it_stopped(
        redis_server: RedisServer, telemetry: Telemetry) -> None:
    flush(redis_server.url)
    plant(redis_server.url, 120)
    tier = RedisTier(redis_server.url, 1.0, 1.0, telemetry.instruments)
    cache = TieredCache(MemoryTier(100, 1 << 20), tier, telemetry.instruments, 1000, 6, scan_count=50)
    try:
        snapshot = await cache.entries(max_entries=100)
    finally:
        await cache.aclose()
    assert len(snapshot.entries) == 100 and snapshot.complete is False and snapshot.redis_error is None
    doc = document(snapshot.entries, "2025-01-01T00:00:00+00:00", None, snapshot.complete)
    assert doc["complete"] is False and doc["counts"]["total"] == 100
    assert doc["warnings"] == ["stopped at 100 entries, the most a restore takes: the rest of the cache is not "
                               "in this backup (take Redis' own snapshot, BGSAVE, for a cache this large)"]
