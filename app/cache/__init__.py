"""The response cache: an in-process memory tier in front of Redis, serving alone when Redis is away."""

from app.cache.tiered import CacheResult, TieredCache

__all__ = ["CacheResult", "TieredCache"]
