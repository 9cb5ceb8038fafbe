"""``TieredCache`` without Redis: the memory tier serves alone, and lookups (not writes) are counted."""

from __future__ import annotations

import logging

import pytest

from app.cache.codec import encode
from app.cache.memory import MemoryTier
from app.cache.tiered import TieredCache, copy_ttl
from instrumentation import Telemetry
from instrumentation.instruments import CACHE_ENTRIES, CACHE_LOOKUPS, CACHE_MEMORY
from tests.helpers.answers import an_answer

VALUE = an_answer("Short.")
LARGE = an_answer("Lorem ipsum dolor sit amet. " * 200)


@pytest.fixture
def cache(telemetry: Telemetry) -> TieredCache:
    return TieredCache(MemoryTier(max_entries=100, max_bytes=1 << 20), None, telemetry.instruments,
                       compression_threshold=1000, compression_level=6)


def lookups(telemetry: Telemetry) -> dict[tuple[str, str, str], float]:
    series = telemetry.reader.snapshot().series(CACHE_LOOKUPS)
    result: dict[tuple[str, str, str], float] = {}
    for attrs, value in series.items():
        a = dict(attrs)
        result[(str(a["llm_obs.cache.result"]), str(a["llm_obs.cache.tier"]), str(a["llm_obs.operation"]))] = value
    return result


async def test_get_after_set_is_a_memory_hit(cache: TieredCache) -> None:
    await cache.set("k1", VALUE, ttl_s=60)
    found = await cache.get("k1", "summarize")
    assert found is not None
    assert found.value.model_dump() == VALUE
    assert found.tier == "memory"


async def test_a_miss_is_none(cache: TieredCache) -> None:
    assert await cache.get("absent", "summarize") is None


async def test_large_values_round_trip_compressed(cache: TieredCache) -> None:
    await cache.set("big", LARGE, ttl_s=60)
    assert cache.memory.bytes_used < len(LARGE["result"]) // 4  # stored compressed
    found = await cache.get("big", "summarize")
    assert found is not None and found.value.model_dump() == LARGE


async def test_lookups_are_counted_with_result_and_tier_writes_are_not(cache: TieredCache,
                                                                       telemetry: Telemetry) -> None:
    await cache.set("k1", VALUE, ttl_s=60)
    await cache.set("k2", VALUE, ttl_s=60)
    assert lookups(telemetry) == {}, "a write was counted as a lookup"
    await cache.get("k1", "summarize")
    await cache.get("k1", "summarize")
    await cache.get("nope", "summarize")
    await cache.get("k2", "sentiment")
    assert lookups(telemetry) == {
        ("hit", "memory", "summarize"): 2,
        ("miss", "none", "summarize"): 1,
        ("hit", "memory", "sentiment"): 1,
    }


async def test_cache_durations_are_measured_for_sets_and_lookups_past_memory(
        cache: TieredCache, telemetry: Telemetry) -> None:
    await cache.set("k", VALUE, ttl_s=60)
    await cache.get("k", "qa")  # a memory hit: counted as a lookup, not timed
    await cache.get("other", "qa")  # a miss went past the memory tier: timed
    series = telemetry.reader.snapshot().histogram_series("llm_obs.cache.operation.duration")
    counts = {dict(a)["llm_obs.cache.operation"]: p.count for a, p in series.items()}
    assert counts == {"get": 1, "set": 1}


async def test_memory_gauges_follow_the_tier(cache: TieredCache, telemetry: Telemetry) -> None:
    await cache.set("k1", VALUE, ttl_s=60)
    await cache.set("k2", LARGE, ttl_s=60)
    snap = telemetry.reader.snapshot()
    assert sum(snap.series(CACHE_MEMORY).values()) == cache.memory.bytes_used > 0
    assert sum(snap.series(CACHE_ENTRIES).values()) == 2


async def test_expired_entries_miss(telemetry: Telemetry) -> None:
    now = {"t": 0.0}
    cache = TieredCache(MemoryTier(10, 1 << 20, clock=lambda: now["t"]), None, telemetry.instruments, 1000, 6)
    await cache.set("k", VALUE, ttl_s=30)
    now["t"] = 31.0
    assert await cache.get("k", "qa") is None


async def test_a_corrupt_plain_entry_is_a_miss_and_is_dropped(cache: TieredCache, telemetry: Telemetry) -> None:
    cache.memory.set("bad", b"J{broken", 60)
    assert await cache.get("bad", "summarize") is None
    assert cache.memory.get("bad") is None
    assert lookups(telemetry) == {("miss", "none", "summarize"): 1}


async def test_a_corrupt_compressed_entry_is_a_miss(cache: TieredCache, telemetry: Telemetry) -> None:
    cache.memory.set("bad", b"Z this is not zlib", 60)
    assert await cache.get("bad", "summarize") is None
    assert cache.memory.get("bad") is None
    assert lookups(telemetry) == {("miss", "none", "summarize"): 1}


async def test_clear_without_redis(cache: TieredCache) -> None:
    await cache.set("k1", VALUE, ttl_s=60)
    assert await cache.clear() == {"memory": 1, "redis": 0}
    assert await cache.get("k1", "summarize") is None
    assert cache.status()["redis"]["configured"] is False


async def test_a_value_that_is_no_answer_is_a_counted_miss_logged_once_per_key(
        cache: TieredCache, telemetry: Telemetry, caplog: pytest.LogCaptureFixture) -> None:
    """An older version's value (an ``operation`` key beside the answer), or one missing a field: a miss
    each time it is found, counted in the status, one log line per key that quotes nothing of it."""
    older = {**an_answer("written by another version"), "operation": "summarize"}
    partial = {"result": "written by another writer"}
    with caplog.at_level(logging.WARNING, logger="app.cache.tiered"):
        for _ in range(2):
            cache.memory.set("k-older", encode(older, 1000, 6), 60)
            assert await cache.get("k-older", "summarize") is None
        cache.memory.set("k-partial", encode(partial, 1000, 6), 60)
        assert await cache.get("k-partial", "summarize") is None
    assert cache.status()["invalid_entries"] == {"total": 3, "not_an_answer": 3}
    assert lookups(telemetry) == {("miss", "none", "summarize"): 3}
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2 and "k-older" in logged[0] and "k-partial" in logged[1], logged
    assert not any("written by" in line for line in logged)
    await cache.set("k-older", VALUE, ttl_s=60)  # the next answer replaces it
    found = await cache.get("k-older", "summarize")
    assert found is not None and found.value.model_dump() == VALUE


@pytest.mark.parametrize(("pttl_ms", "elapsed_s", "expected"), [
    (10_000_000, 0.0, 300.0),  # a long-lived entry: the memory copy's own bound
    (2_000, 0.0, 2.0),  # it expires in Redis first: so does the copy
    (2_000, 0.5, 1.5),  # counted from before the lookup went out: never past Redis' expiry
    (-1, 0.0, 300.0),  # no expiry in Redis
    (-2, 0.0, 0.0),  # gone since the GET: served once, not copied
])
def test_the_memory_copy_of_a_redis_hit_lives_no_longer_than_in_redis(
        pttl_ms: int, elapsed_s: float, expected: float) -> None:
    assert copy_ttl(pttl_ms, elapsed_s) == pytest.approx(expected)
