"""Backup and restore of the cache: the entries of both tiers with their remaining TTLs.

A backup is plain JSON (``curl -s .../backup > cache_backup.json``): values are the stored bytes in
base64, so a restore writes back exactly what was read, compressed or not. A restore counts the time
since ``created_at`` against each TTL, so entries do not outlive the lifetime they were given.

A backup is untrusted input: the document's shape is checked whole (a 422), each value on its own, as
the cache reads one (``app.cache.answer``, bounded by ``CACHE_MAX_VALUE_BYTES``). A value that is no
answer is left out and counted; the other entries are restored.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

from app.cache import answer
from app.cache.codec import CorruptValue, InvalidValue
from app.cache.keys import KEY_PREFIX, operation_of, ttl_for
from app.infra.redis import outcome

BACKUP_VERSION: Literal[1] = 1
MAX_KEY_LENGTH = 4096
MAX_BACKUP_ENTRIES = 1_000_000  # the most a restore takes, so the most a backup holds


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


def document(entries: list[Entry], created_at: str, redis_error: str | None, complete: bool = True) -> dict[str, Any]:
    """The backup; ``complete`` False when the cache held more than ``MAX_BACKUP_ENTRIES`` (a warning
    says so: a backup that claimed the whole cache and was not is the failure this prevents)."""
    in_memory = sum(1 for e in entries if "memory" in e.tiers)
    in_redis = sum(1 for e in entries if "redis" in e.tiers)
    redis, warnings = outcome(redis_error)
    if not complete:
        warnings.append(f"stopped at {len(entries)} entries, the most a restore takes: the rest of the cache is "
                        "not in this backup (take Redis' own snapshot, BGSAVE, for a cache this large)")
    return {
        "version": BACKUP_VERSION,
        "created_at": created_at,
        "key_prefix": KEY_PREFIX,
        "complete": complete,
        "counts": {"total": len(entries), "memory": in_memory, "redis": in_redis},
        "redis": redis,
        "warnings": warnings,
        "entries": [{"key": e.key, "value": base64.b64encode(e.blob).decode(), "ttl_ms": e.ttl_ms,
                     "tiers": list(e.tiers)} for e in entries],
    }


class BackupEntry(TypedDict):
    """One entry of a backup. A typed dict, checked by pydantic-core alone: a model instance (and a Python
    validator) per entry cost about 7 µs, ~1 s on the event loop for a full 64 MiB backup."""

    key: Annotated[str, Field(min_length=len(KEY_PREFIX) + 2, max_length=MAX_KEY_LENGTH,
                              pattern=rf"^{KEY_PREFIX}\|", description="A cache key of this service")]
    value: Annotated[str, Field(description="The stored bytes, base64")]
    ttl_ms: Annotated[int, Field(gt=0, description="Remaining time to live when the backup was taken, in ms")]


def blob_of(item: BackupEntry, max_value_bytes: int) -> bytes:
    """The stored bytes of ``item``, when they hold an answer; else ``InvalidValue`` with the reason."""
    try:
        blob = base64.b64decode(item["value"], validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise CorruptValue("not base64") from None
    answer.read(blob, max_value_bytes)  # parsed to be checked; what is written is the bytes as read
    return blob


def _iso_text(value: object) -> object:
    """A backup's time is the ISO 8601 text ``document`` wrote: pydantic would also take a number as
    seconds since the epoch, so ``0`` would pass as 1970 and expire every entry unannounced."""
    if not isinstance(value, str):
        raise ValueError("created_at must be an ISO 8601 date-time string with its offset")
    return value


class Backup(BaseModel):
    """The body of ``POST /internal/cache/restore``: what ``GET /internal/cache/backup`` returned."""

    model_config = ConfigDict(extra="ignore")

    version: Literal[1]
    created_at: Annotated[AwareDatetime, BeforeValidator(_iso_text)]
    entries: list[BackupEntry] = Field(max_length=MAX_BACKUP_ENTRIES)


@dataclass(slots=True)
class Restorable:
    """What a part of a backup holds: the entries to write, and what is left out and why."""

    alive: list[Entry] = field(default_factory=list)
    expired: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # by InvalidValue.reason

    def add(self, other: Restorable) -> None:
        """Count ``other``'s left-out entries in with these (its ``alive`` ones are written, not kept)."""
        self.expired += other.expired
        self.rejected.update(other.rejected)


def restorable(entries: Sequence[BackupEntry], created_at: datetime, now: datetime,
               max_value_bytes: int) -> Restorable:
    """The entries still alive at ``now``, their TTL shortened by the time since the backup, whose value
    is an answer; the rest counted. A backup from the future (another host's clock) counts no time; no
    TTL exceeds its operation's. CPU-bound (decompression, parsing): callers run it off the event loop."""
    elapsed_ms = max(0, int((now - created_at).total_seconds() * 1000))
    out = Restorable()
    for item in entries:
        # Never longer than its operation lives: a backup is untrusted input (10^19 ms is a Redis error).
        remaining = min(item["ttl_ms"], ttl_for(operation_of(item["key"]) or "") * 1000) - elapsed_ms
        if remaining <= 0:
            out.expired += 1
            continue
        try:
            out.alive.append(Entry(item["key"], blob_of(item, max_value_bytes), remaining, ()))
        except InvalidValue as exc:
            out.rejected[exc.reason] += 1
    return out
