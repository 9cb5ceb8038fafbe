"""Backup and restore of the cache: the entries of both tiers with their remaining TTLs.

A backup is plain JSON (``curl -s .../backup > cache_backup.json``): values are the stored bytes in
base64, so a restore writes back exactly what was read, compressed or not. A restore counts the time
since ``created_at`` against each TTL, so entries do not outlive the lifetime they were given.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from app.cache.codec import decode
from app.cache.keys import KEY_PREFIX, operation_of, ttl_for
from app.cache.redis_tier import outcome

BACKUP_VERSION: Literal[1] = 1
MAX_KEY_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    blob: bytes
    ttl_ms: int  # remaining, > 0
    tiers: tuple[str, ...]


def merge(memory: Iterable[tuple[str, bytes, float]], redis: Iterable[tuple[str, bytes, int]]) -> list[Entry]:
    """One entry per key. Redis holds the real TTL (the memory tier keeps short copies of Redis hits),
    so its value and TTL win; a key without expiry in Redis gets its operation's TTL."""
    merged: dict[str, Entry] = {}
    for key, blob, remaining_s in memory:
        merged[key] = Entry(key, blob, max(1, int(remaining_s * 1000)), ("memory",))
    for key, blob, pttl in redis:
        ttl_ms = pttl if pttl > 0 else ttl_for(operation_of(key) or "") * 1000
        tiers = ("memory", "redis") if key in merged else ("redis",)
        merged[key] = Entry(key, blob, ttl_ms, tiers)
    return sorted(merged.values(), key=lambda e: e.key)


def document(entries: list[Entry], created_at: str, redis_error: str | None) -> dict[str, Any]:
    in_memory = sum(1 for e in entries if "memory" in e.tiers)
    in_redis = sum(1 for e in entries if "redis" in e.tiers)
    redis, warnings = outcome(redis_error)
    return {
        "version": BACKUP_VERSION,
        "created_at": created_at,
        "key_prefix": KEY_PREFIX,
        "counts": {"total": len(entries), "memory": in_memory, "redis": in_redis},
        "redis": redis,
        "warnings": warnings,
        "entries": [{"key": e.key, "value": base64.b64encode(e.blob).decode(), "ttl_ms": e.ttl_ms,
                     "tiers": list(e.tiers)} for e in entries],
    }


class BackupEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=len(KEY_PREFIX) + 2, max_length=MAX_KEY_LENGTH)
    value: str = Field(description="The stored bytes, base64")
    ttl_ms: int = Field(gt=0, description="Remaining time to live when the backup was taken, in ms")

    @field_validator("key")
    @classmethod
    def _ours(cls, key: str) -> str:
        if not key.startswith(f"{KEY_PREFIX}|"):
            raise ValueError(f"not a cache key of this service (must start with '{KEY_PREFIX}|')")
        return key

    @field_validator("value")
    @classmethod
    def _readable(cls, value: str) -> str:
        try:
            decode(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"not a cache value written by this service: {exc}") from exc
        return value

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.value)


class Backup(BaseModel):
    """The body of ``POST /internal/cache/restore``: what ``GET /internal/cache/backup`` returned."""

    model_config = ConfigDict(extra="ignore")

    version: Literal[1]
    created_at: AwareDatetime
    entries: list[BackupEntry] = Field(max_length=1_000_000)


def restorable(backup: Backup, now: datetime) -> tuple[list[Entry], int]:
    """The entries still alive at ``now``, their TTL shortened by the time since the backup; and how
    many have expired since. A backup from the future (another host's clock) counts no time; no TTL
    exceeds its operation's."""
    elapsed_ms = max(0, int((now - backup.created_at).total_seconds() * 1000))
    alive: list[Entry] = []
    for item in backup.entries:
        # Never longer than its operation lives: a backup is untrusted input (10^19 ms is a Redis error).
        remaining = min(item.ttl_ms, ttl_for(operation_of(item.key) or "") * 1000) - elapsed_ms
        if remaining > 0:
            alive.append(Entry(item.key, item.blob, remaining, ()))
    return alive, len(backup.entries) - len(alive)
