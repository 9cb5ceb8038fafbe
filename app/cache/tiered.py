"""Memory tier in front of Redis. Lookups, not writes, are what the hit statistics count.

Reads try memory, then Redis (a Redis hit is copied to memory, for no longer than it has left in
Redis); writes go to both. When Redis is
down or not configured the memory tier serves on its own, and comes back to sharing when Redis does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.metrics import Observation

from app.cache import answer
from app.cache.answer import CachedAnswer
from app.cache.backup import MAX_BACKUP_ENTRIES, Entry, merge
from app.cache.codec import DEFAULT_MAX_VALUE_BYTES, InvalidValue, ValueTooLarge, encode
from app.cache.keys import KEY_PREFIX
from app.cache.memory import Freed, MemoryTier
from app.infra.redis import NOT_CONFIGURED, RedisTier, RedisUnavailable
from instrumentation.bound import BoundCounter, bind_counter, bind_histogram
from instrumentation.instruments import CACHE_ENTRIES, CACHE_MEMORY, Instruments

_log = logging.getLogger(__name__)
Tier = Literal["memory", "redis"]
_PATTERN = f"{KEY_PREFIX}|*"
# Keys whose invalid entry was logged: one line per key, not one per request that finds it again
# (until the next answer replaces it). Bounded: a writer filling Redis with junk cannot grow it.
_LOGGED_KEYS = 1024
MEMORY_COPY_TTL_S = 300.0  # the longest a Redis hit is served from this process' memory tier


def copy_ttl(pttl_ms: int, elapsed_s: float) -> float:
    """How long the memory copy of a Redis hit may serve: a short while (other workers may replace the
    entry), and never past the entry's expiry in Redis. The PTTL is counted from before the lookup was
    sent (``elapsed_s`` ago), so the copy expires no later than the original. -1: no expiry in Redis;
    -2: gone since the GET (served once, not copied)."""
    if pttl_ms == -1:
        return MEMORY_COPY_TTL_S
    return min(MEMORY_COPY_TTL_S, pttl_ms / 1000 - elapsed_s) if pttl_ms >= 0 else 0.0


@dataclass(frozen=True, slots=True)
class CacheResult:
    value: CachedAnswer
    tier: Tier


@dataclass(frozen=True, slots=True)
class Cleared:
    memory: Freed
    redis_keys: int
    redis_error: str | None  # why Redis was not cleared, when it was not


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The entries of both tiers for a backup."""

    entries: list[Entry]
    complete: bool  # False: the cache holds more than a backup takes; ``entries`` is the first part
    redis_error: str | None


def _capped(entries: list[Entry], limit: int) -> tuple[list[Entry], bool]:
    return entries[:limit], len(entries) <= limit


@dataclass(frozen=True, slots=True)
class Restored:
    memory: int
    redis: int
    redis_error: str | None


class TieredCache:
    def __init__(self, memory: MemoryTier, redis: RedisTier | None, instruments: Instruments,
                 compression_threshold: int, compression_level: int,
                 max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES, scan_count: int = 500) -> None:
        self.memory = memory
        self.redis = redis
        self._instruments = instruments
        self._threshold = compression_threshold
        self._level = compression_level
        self.max_value_bytes = max_value_bytes
        self.scan_count = scan_count  # keys per SCAN step, and per DEL or dump of them
        self._lookups: dict[tuple[str, str, str], BoundCounter] = {}
        self.invalid: Counter[str] = Counter()  # entries read back that held no answer, by reason
        self._logged: OrderedDict[str, None] = OrderedDict()
        self._get_duration = bind_histogram(instruments.cache_duration, {"llm_obs.cache.operation": "get"})
        self._set_duration = bind_histogram(instruments.cache_duration, {"llm_obs.cache.operation": "set"})
        instruments.observe(CACHE_MEMORY, lambda: [Observation(memory.bytes_used, {"llm_obs.cache.tier": "memory"})])
        instruments.observe(CACHE_ENTRIES, lambda: [Observation(memory.entries, {"llm_obs.cache.tier": "memory"})])

    async def get(self, key: str, operation: str) -> CacheResult | None:
        start = time.perf_counter()
        result = await self._get(key)
        if result is None or result.tier != "memory":
            # Timed when the lookup went past the memory tier: a dict hit takes less than the record
            # of its duration would (about 40 µs in the running server), on the hottest path there is.
            self._get_duration.record(time.perf_counter() - start)
        outcome = ("hit", result.tier) if result else ("miss", "none")
        self._lookup_counter(outcome[0], outcome[1], operation).add(1)
        return result

    async def set(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        start = time.perf_counter()
        try:
            blob = encode(value, self._threshold, self._level, self.max_value_bytes)
        except ValueTooLarge as exc:  # every reader would refuse it: not cached, the answer still is
            _log.warning("answer for %s not cached: %s (CACHE_MAX_VALUE_BYTES)", key, exc)
            return
        self.memory.set(key, blob, ttl_s)
        if self.redis is not None:
            # When Redis is away the memory tier holds the value; Redis catches up on the next write.
            with contextlib.suppress(RedisUnavailable):
                await self.redis.set(key, blob, ttl_s)
        self._set_duration.record(time.perf_counter() - start)

    async def _get(self, key: str) -> CacheResult | None:
        blob = self.memory.get(key)
        if blob is not None:
            return self._decoded(key, blob, "memory")
        if self.redis is None:
            return None
        asked = time.monotonic()
        try:
            blob, pttl_ms = await self.redis.lookup(key)
        except RedisUnavailable:
            return None
        if blob is None:
            return None
        result = self._decoded(key, blob, "redis")
        ttl_s = copy_ttl(pttl_ms, time.monotonic() - asked)
        if result is not None and ttl_s > 0:
            self.memory.set(key, blob, ttl_s)
        return result

    def _decoded(self, key: str, blob: bytes, tier: Tier) -> CacheResult | None:
        try:
            return CacheResult(answer.read(blob, self.max_value_bytes), tier)
        except InvalidValue as exc:  # a miss: the next answer replaces it in both tiers
            self._invalid(key, tier, exc.reason)
            self.memory.delete(key)
            return None

    def _invalid(self, key: str, tier: Tier, reason: str) -> None:
        self.invalid[reason] += 1
        if key in self._logged:
            return
        self._logged[key] = None
        if len(self._logged) > _LOGGED_KEYS:
            self._logged.popitem(last=False)
        # The key is a digest (no user text); the value is not quoted, only what is wrong with it.
        _log.warning("cache entry %s in the %s tier holds no answer of this service (%s): served as a miss "
                     "and replaced by the next answer", key, tier, reason)

    def _lookup_counter(self, result: str, tier: str, operation: str) -> BoundCounter:
        key = (result, tier, operation)  # a few dozen combinations at most: operations are validated
        counter = self._lookups.get(key)
        if counter is None:  # bound once per combination: the attribute work is a cost per request
            counter = bind_counter(self._instruments.cache_lookups,
                                   {"llm_obs.cache.result": result, "llm_obs.cache.tier": tier,
                                    "llm_obs.operation": operation})
            self._lookups[key] = counter
        return counter

    async def clear(self) -> dict[str, int]:
        cleared = await self.clear_tiers()
        return {"memory": cleared.memory.entries, "redis": cleared.redis_keys}

    async def clear_tiers(self) -> Cleared:
        memory = self.memory.drain()
        if self.redis is None:
            return Cleared(memory, 0, NOT_CONFIGURED)
        deleted = 0
        try:
            # A batch deleted as it is found: the whole keyspace walked, never all its keys in memory.
            async for keys in self.redis.scan(_PATTERN, self.scan_count):
                deleted += await self.redis.delete(*keys)
        except RedisUnavailable as exc:  # what was deleted stays deleted: the answer says how far it got
            return Cleared(memory, deleted, str(exc))
        return Cleared(memory, deleted, None)

    def purge_expired(self) -> Freed:
        """Expired entries leave the memory tier now; Redis expires its keys itself."""
        return self.memory.purge()

    async def entries(self, max_entries: int = MAX_BACKUP_ENTRIES) -> Snapshot:
        """Every live entry of both tiers, up to ``max_entries`` (past it the snapshot says it stopped),
        and why Redis could not be read, when it could not (then: the memory tier's entries only)."""
        memory = self.memory.items()
        if self.redis is None:
            return Snapshot(*_capped(merge(memory, []), max_entries), NOT_CONFIGURED)
        found: dict[str, tuple[str, bytes, int]] = {}  # by key: SCAN may return one twice
        try:
            async with contextlib.aclosing(self.redis.scan(_PATTERN, self.scan_count)) as batches:
                async for keys in batches:
                    found.update((e[0], e) for e in await self.redis.dump(keys, self.scan_count))
                    if len(found) > max_entries:  # one more than a backup takes: it is incomplete
                        break
        except RedisUnavailable as exc:
            return Snapshot(*_capped(merge(memory, []), max_entries), str(exc))
        return Snapshot(*_capped(merge(memory, found.values()), max_entries), None)

    async def restore(self, entries: list[Entry]) -> Restored:
        """Write ``entries`` to both tiers (a large backup comes in parts); ``Restored.memory`` counts
        the ones the memory tier holds after this part (its bounds may have evicted some)."""
        for entry in entries:
            self.memory.set(entry.key, entry.blob, entry.ttl_ms / 1000)
        in_memory = self.in_memory(e.key for e in entries)
        if self.redis is None:
            return Restored(in_memory, 0, NOT_CONFIGURED)
        try:
            return Restored(in_memory, await self.redis.restore(
                [(e.key, e.blob, e.ttl_ms) for e in entries]), None)
        except RedisUnavailable as exc:
            return Restored(in_memory, 0, str(exc))

    def in_memory(self, keys: Iterable[str]) -> int:
        """How many of ``keys`` the memory tier holds now."""
        held = set(self.memory.keys())
        return sum(1 for key in keys if key in held)

    def status(self) -> dict[str, Any]:
        return {
            "memory": {"entries": self.memory.entries, "bytes": self.memory.bytes_used,
                       "max_entries": self.memory.max_entries, "max_bytes": self.memory.max_bytes,
                       "evictions": self.memory.evictions},
            "redis": self.redis.status() if self.redis else {"available": False, "configured": False},
            # Entries read back that were no answer (another writer, another version): each was a miss.
            "invalid_entries": {"total": sum(self.invalid.values()), **self.invalid},
        }

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
