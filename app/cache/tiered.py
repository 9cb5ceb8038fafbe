"""Memory tier in front of Redis. Lookups, not writes, are what the hit statistics count.

Reads try memory, then Redis (a Redis hit is copied to memory); writes go to both. When Redis is
down or not configured the memory tier serves on its own, and comes back to sharing when Redis does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.metrics import Observation

from app.cache.codec import decode, encode
from app.cache.keys import KEY_PREFIX
from app.cache.memory import MemoryTier
from app.cache.redis_tier import RedisTier, RedisUnavailable
from instrumentation.instruments import CACHE_ENTRIES, CACHE_MEMORY, Instruments

_log = logging.getLogger(__name__)
Tier = Literal["memory", "redis"]


@dataclass(frozen=True, slots=True)
class CacheResult:
    value: dict[str, Any]
    tier: Tier


class TieredCache:
    def __init__(self, memory: MemoryTier, redis: RedisTier | None, instruments: Instruments,
                 compression_threshold: int, compression_level: int) -> None:
        self.memory = memory
        self.redis = redis
        self._instruments = instruments
        self._threshold = compression_threshold
        self._level = compression_level
        self._lookup_attrs: dict[tuple[str, str, str], dict[str, str]] = {}
        instruments.observe(CACHE_MEMORY, lambda: [Observation(memory.bytes_used, {"app.cache.tier": "memory"})])
        instruments.observe(CACHE_ENTRIES, lambda: [Observation(memory.entries, {"app.cache.tier": "memory"})])

    async def get(self, key: str, operation: str) -> CacheResult | None:
        start = time.perf_counter()
        result = await self._get(key)
        self._instruments.cache_duration.record(time.perf_counter() - start, {"app.cache.operation": "get"})
        outcome = ("hit", result.tier) if result else ("miss", "none")
        self._instruments.cache_lookups.add(1, self._attrs(outcome[0], outcome[1], operation))
        return result

    async def set(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        start = time.perf_counter()
        blob = encode(value, self._threshold, self._level)
        self.memory.set(key, blob, ttl_s)
        if self.redis is not None:
            # When Redis is away the memory tier holds the value; Redis catches up on the next write.
            with contextlib.suppress(RedisUnavailable):
                await self.redis.set(key, blob, ttl_s)
        self._instruments.cache_duration.record(time.perf_counter() - start, {"app.cache.operation": "set"})

    async def _get(self, key: str) -> CacheResult | None:
        blob = self.memory.get(key)
        if blob is not None:
            return self._decoded(key, blob, "memory")
        if self.redis is None:
            return None
        try:
            blob = await self.redis.get(key)
        except RedisUnavailable:
            return None
        if blob is None:
            return None
        result = self._decoded(key, blob, "redis")
        if result is not None:
            self.memory.set(key, blob, 300)  # a short local copy; Redis keeps the real TTL
        return result

    def _decoded(self, key: str, blob: bytes, tier: Tier) -> CacheResult | None:
        try:
            return CacheResult(decode(blob), tier)
        except (ValueError, OSError) as exc:  # a corrupt entry is a miss, and is dropped
            _log.warning("dropping unreadable cache entry in %s tier: %r", tier, exc)
            self.memory.delete(key)
            return None

    def _attrs(self, result: str, tier: str, operation: str) -> dict[str, str]:
        key = (result, tier, operation)
        attrs = self._lookup_attrs.get(key)
        if attrs is None:  # built once per combination: attribute dicts are a cost per request
            attrs = {"app.cache.result": result, "app.cache.tier": tier, "app.operation": operation}
            self._lookup_attrs[key] = attrs
        return attrs

    async def clear(self) -> dict[str, int]:
        cleared = {"memory": self.memory.clear(), "redis": 0}
        if self.redis is not None:
            try:
                keys = await self.redis.scan_keys(f"{KEY_PREFIX}|*")
                cleared["redis"] = await self.redis.delete(*keys)
            except RedisUnavailable:
                pass
        return cleared

    def status(self) -> dict[str, Any]:
        return {
            "memory": {"entries": self.memory.entries, "bytes": self.memory.bytes_used,
                       "max_entries": self.memory.max_entries, "max_bytes": self.memory.max_bytes,
                       "evictions": self.memory.evictions},
            "redis": self.redis.status() if self.redis else {"available": False, "configured": False},
        }

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
