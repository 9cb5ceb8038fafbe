"""Alert records that outlive the process: in Redis when present, in a bounded memory buffer always.

In Redis, records are shared by every worker and survive a restart: a hash of JSON records by id and
a sorted set of ids by ``first_seen``, trimmed to the retention on each write and expiring with it.
Without Redis (or while it is down) this worker's records are still answered from memory, and the
answer says so.

Each change lands in memory at once, from whichever thread the ``AlertBook`` hook runs on (the
history thread, or the event loop when a request evaluates), and is marked pending. A task on the
event loop writes pending records with the app's async Redis client: no Redis I/O ever runs on the
history thread (it would delay snapshots) or inside a request (it would add latency), and since the
writer always sends the newest state of a record, a fire and its resolve cannot land out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from app.infra.redis import RedisTier, RedisUnavailable
from app.monitoring.alerts import Alert

_log = logging.getLogger(__name__)

RECORDS_KEY = "monitoring:alerts:records"  # hash: id -> JSON record
INDEX_KEY = "monitoring:alerts:index"  # sorted set: id scored by first_seen
MAX_READ = 10_000  # newest records read per query; older ones are reported as truncated


def new_instance_id() -> str:
    """Names the worker that recorded an alert: host, pid, and a suffix for apps sharing a process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class AlertRecord:
    id: str
    name: str
    severity: str
    source: str
    title: str
    message: str
    value: float
    threshold: float
    unit: str
    status: str  # firing | resolved
    first_seen: float
    last_seen: float
    resolved_at: float | None
    instance: str

    @classmethod
    def of(cls, alert: Alert, instance: str) -> AlertRecord:
        # copied now: the Alert object keeps changing on the history thread
        return cls(f"{instance}:{alert.name}:{alert.first_seen:.3f}", alert.name, alert.severity, alert.source,
                   alert.title, alert.message, alert.value, alert.threshold, alert.unit, alert.status,
                   alert.first_seen, alert.last_seen, alert.resolved_at, instance)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertRecord:
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ended_at(self) -> float:
        """When it stopped firing, or the last time it was seen firing."""
        return self.resolved_at if self.resolved_at is not None else self.last_seen


@dataclass(frozen=True)
class StoredAlerts:
    records: list[AlertRecord]
    status: dict[str, Any]


class AlertStore:
    def __init__(self, redis: RedisTier | None, retention_s: float, instance: str, memory_limit: int = 1000,
                 retry_s: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.retention_s = retention_s
        self.retry_s = retry_s  # how soon pending records are retried while Redis is down
        self.instance = instance
        self._memory_limit = memory_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, AlertRecord] = OrderedDict()
        self._pending: dict[str, AlertRecord] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.lost = 0  # pushed out of memory before Redis took them
        self.last_error: str | None = None

    # -- recording (any thread)
    def record(self, record: AlertRecord) -> None:
        with self._lock:
            self._memory[record.id] = record
            self._memory.move_to_end(record.id)
            if self.redis is not None:
                self._pending[record.id] = record
            self._trim_memory()
        self._wake_writer()

    def refresh(self, active: Iterable[Alert]) -> None:
        """Carry ``last_seen`` and the value of still-firing alerts into their records."""
        for alert in active:
            record_id = f"{self.instance}:{alert.name}:{alert.first_seen:.3f}"
            with self._lock:
                old = self._memory.get(record_id)
            if old is not None and old.status == "firing" and old.last_seen != alert.last_seen:
                self.record(replace(old, last_seen=alert.last_seen, value=alert.value, message=alert.message))

    def _trim_memory(self) -> None:
        cutoff = self._clock() - self.retention_s
        while self._memory:
            oldest_id, oldest = next(iter(self._memory.items()))
            if len(self._memory) <= self._memory_limit and oldest.first_seen >= cutoff:
                break
            del self._memory[oldest_id]
            if self._pending.pop(oldest_id, None) is not None:
                self.lost += 1

    def _wake_writer(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed at shutdown: the record stays in memory
            loop.call_soon_threadsafe(wake.set)

    # -- writing (event loop)
    async def start(self) -> None:
        if self.redis is None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._writer(), name="alert-store-writer")

    async def _writer(self) -> None:
        # Stopped by a flag, not by cancel(): a wake-up racing a cancellation can swallow it.
        assert self._wake is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_s if self._pending else None):
                    await self._wake.wait()
            self._wake.clear()
            if not self._stopping:
                await self.flush()

    async def flush(self) -> bool:
        """Write the pending records; False (and they stay pending) when Redis cannot take them."""
        if self.redis is None:
            return True
        with self._lock:
            batch = dict(self._pending)
        if not batch:
            return True
        try:
            await self._write(self.redis, list(batch.values()))
        except RedisUnavailable as exc:
            self.last_error = str(exc)
            return False
        except Exception as exc:  # a record must never take the writer down
            _log.exception("writing alert records to Redis failed")
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        with self._lock:
            for record_id, record in batch.items():
                if self._pending.get(record_id) is record:  # unchanged while it was written
                    del self._pending[record_id]
        self.written += len(batch)
        self.last_error = None
        return True

    async def _write(self, redis: RedisTier, records: list[AlertRecord]) -> None:
        client = redis.client
        cutoff = self._clock() - self.retention_s
        ttl = max(1, int(self.retention_s))

        async def write() -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(RECORDS_KEY, mapping={r.id: json.dumps(r.as_dict()) for r in records})
                pipe.zadd(INDEX_KEY, {r.id: r.first_seen for r in records})
                pipe.expire(RECORDS_KEY, ttl)
                pipe.expire(INDEX_KEY, ttl)
                await pipe.execute()

        async def trim() -> None:
            expired = await client.zrangebyscore(INDEX_KEY, "-inf", f"({cutoff}")
            if expired:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.hdel(RECORDS_KEY, *expired)
                    pipe.zremrangebyscore(INDEX_KEY, "-inf", f"({cutoff}")
                    await pipe.execute()

        await redis.run("HSET", write)
        await redis.run("ZREMRANGEBYSCORE", trim)

    async def aclose(self) -> None:
        self._stopping = True
        if self._task is not None and self._wake is not None:
            self._wake.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=2.0)  # cancels it after that
            self._task = None
        self._loop = self._wake = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):  # Redis gets a last chance; what it misses is logged
                await self.flush()
        if self._pending:
            _log.warning("%d alert records not written to Redis before shutdown", len(self._pending))

    # -- reading (event loop)
    async def query(self, since: float) -> StoredAlerts:
        """Records of alerts that fired at or after ``since``, newest first."""
        with self._lock:
            local = {r.id: r for r in self._memory.values() if r.first_seen >= since}
        shared: dict[str, AlertRecord] = {}
        error: str | None = None
        truncated = False
        if self.redis is not None:
            try:
                shared, truncated = await self._read(self.redis, since)
            except RedisUnavailable as exc:
                error = str(exc)
        # this worker's memory holds the newest state of its own records (a write may be pending)
        records = sorted({**shared, **local}.values(), key=lambda r: (-r.first_seen, r.name))
        return StoredAlerts(records, self.status(error, truncated))

    async def _read(self, redis: RedisTier, since: float) -> tuple[dict[str, AlertRecord], bool]:
        client = redis.client

        async def read() -> tuple[list[Any], bool]:
            ids: list[Any] = list(await client.zrevrangebyscore(INDEX_KEY, "+inf", since, start=0, num=MAX_READ + 1))
            truncated = len(ids) > MAX_READ
            ids = ids[:MAX_READ]
            return (await client.hmget(RECORDS_KEY, ids) if ids else []), truncated

        blobs, truncated = await redis.run("HMGET", read)
        records: dict[str, AlertRecord] = {}
        for blob in blobs:
            if blob is None:
                continue
            try:
                record = AlertRecord.from_dict(json.loads(blob))
            except (ValueError, TypeError, KeyError) as exc:  # an unreadable record is skipped, not fatal
                _log.warning("skipping unreadable alert record: %r", exc)
                continue
            records[record.id] = record
        return records, truncated

    def status(self, error: str | None = None, truncated: bool = False) -> dict[str, Any]:
        shared = self.redis is not None and error is None
        status: dict[str, Any] = {
            "backend": "redis" if shared else "memory",
            "shared": shared,
            "retention_days": round(self.retention_s / 86400, 3),
            "pending_writes": len(self._pending),
            "lost_records": self.lost,
            "truncated": truncated,
        }
        if self.last_error is not None:
            status["last_write_error"] = self.last_error
        if self.redis is None:
            status["note"] = "Redis not configured: this worker's alerts only, kept in memory until restart"
        elif error is not None:
            status["note"] = f"Redis unavailable ({error}): this worker's alerts only"
        return status
