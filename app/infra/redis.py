"""Redis access (the cache's Redis tier, the alert store, maintenance mode): short timeouts, and a pause after a
failure so a dead Redis costs no request latency.

While Redis is down every call returns at once (``RedisUnavailable``) until ``retry_interval_s`` has
passed; the first call after that is the probe that finds it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import DataError, RedisError, ResponseError

from instrumentation.bound import BoundHistogram, bind_histogram
from instrumentation.instruments import Instruments
from instrumentation.redact import redact_text, redact_url
from instrumentation.redis_spans import connection_attributes, error_attributes, operation_name

_log = logging.getLogger(__name__)
T = TypeVar("T")


# db.operation.name of the pipelines, as the spans name them (instrumentation.redis_spans): GET and PTTL
# of a key are "PIPELINE"; a chunk of SETs "PIPELINE SET" (a chunk of one, "SET").
LOOKUP = operation_name(["GET", "PTTL"])

NOT_CONFIGURED = "not configured"  # the reason given for a Redis that was never meant to be there


class RedisUnavailable(Exception):
    """Redis is down or not configured; the caller falls back to the memory tier."""


class RedisCommandError(RedisUnavailable):
    """Redis refused one command (a bad argument): that call fails and falls back like an outage,
    but the tier stays up for every other request. The message names the error class and the
    command only: Redis' own text quotes the arguments, i.e. keys (requests) and values (answers)."""


# Errors that are the command's, not the connection's (ReadOnlyError, NoScriptError, ... included).
_COMMAND_ERRORS = (ResponseError, DataError)


def outcome(redis_error: str | None) -> tuple[str, list[str]]:
    """A maintenance step's Redis status (ok / not_configured / unavailable) and the warning it deserves."""
    if redis_error is None:
        return "ok", []
    if redis_error == NOT_CONFIGURED:
        return "not_configured", []
    return "unavailable", [f"Redis unavailable ({redis_error}): only the memory tier was used"]


class RedisTier:
    def __init__(self, url: str, timeout_s: float, retry_interval_s: float, instruments: Instruments,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False)
        self._retry_interval_s = retry_interval_s
        self._instruments = instruments
        self._clock = clock
        self.available: bool | None = None  # None until the first call
        self._retry_at = 0.0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failures = 0
        self.command_errors = 0  # commands Redis refused, which do not pause the tier
        self._durations: dict[str, BoundHistogram] = {}
        # db.system.name, db.namespace, server.address, server.port: the spans' (instrumentation.redis_spans)
        self._attributes = connection_attributes(self.client)
        for op in ("GET", "SET", "DEL", "PING", "SCAN", "INFO", LOOKUP, operation_name(["SET", "SET"])):
            self._bind(op)

    def _bind(self, op: str) -> BoundHistogram:
        """The duration of ``op`` (its ``db.operation.name``) bound to its attributes once: a record per Redis call."""
        bound = self._durations.get(op)
        if bound is None:
            bound = self._durations[op] = bind_histogram(self._instruments.db_duration,
                                                         {**self._attributes, "db.operation.name": op})
        return bound

    async def get(self, key: str) -> bytes | None:
        value: Any = await self._call("GET", lambda: self.client.get(key))
        return value if isinstance(value, bytes) or value is None else bytes(value)

    async def lookup(self, key: str) -> tuple[bytes | None, int]:
        """The value and its PTTL in ms (-1: no expiry, -2: gone), in one round trip (a ``PIPELINE``)."""
        async def fetch() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            pipe.get(key)
            pipe.pttl(key)
            return list(await pipe.execute())

        value, pttl = await self._call(LOOKUP, fetch)
        return (None if value is None else bytes(value)), int(pttl)

    async def set(self, key: str, blob: bytes, ttl_s: int) -> None:
        await self._call("SET", lambda: self.client.set(key, blob, ex=ttl_s))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._call("DEL", lambda: self.client.delete(*keys)))

    async def scan(self, pattern: str, count: int) -> AsyncGenerator[list[str], None]:
        """Every key matching ``pattern``, one SCAN reply (about ``count`` keys) at a time, until the
        cursor has walked the whole keyspace: no cap, and no list of every key held at once. A key
        may come twice (SCAN's guarantee is at least once); a failure ends the walk with the error."""
        cursor = 0
        while True:
            async def step(at: int = cursor) -> Any:
                return await self.client.scan(at, match=pattern, count=count)

            cursor, keys = await self._call("SCAN", step)
            if keys:
                yield [key.decode() if isinstance(key, bytes) else str(key) for key in keys]
            if int(cursor) == 0:
                return

    async def dump(self, keys: Sequence[str], chunk: int = 500) -> list[tuple[str, bytes, int]]:
        """``(key, value, PTTL in ms)`` for each key still present; PTTL is -1 for a key without expiry."""
        found: list[tuple[str, bytes, int]] = []
        for start in range(0, len(keys), chunk):
            part = keys[start:start + chunk]

            async def fetch(part: Sequence[str] = part) -> list[Any]:
                pipe = self.client.pipeline(transaction=False)
                for key in part:
                    pipe.get(key)
                    pipe.pttl(key)
                return list(await pipe.execute())

            replies = await self._call(operation_name(["GET", "PTTL"] * len(part)), fetch)
            for key, value, pttl in zip(part, replies[::2], replies[1::2], strict=True):
                if value is not None and int(pttl) != -2:  # -2: expired between SCAN and now
                    found.append((key, bytes(value), int(pttl)))
        return found

    async def restore(self, entries: Sequence[tuple[str, bytes, int]], chunk: int = 500) -> int:
        """SET each ``(key, value, TTL in ms)`` with that TTL; the number written."""
        for start in range(0, len(entries), chunk):
            part = entries[start:start + chunk]

            async def write(part: Sequence[tuple[str, bytes, int]] = part) -> None:
                pipe = self.client.pipeline(transaction=False)
                for key, blob, ttl_ms in part:
                    pipe.set(key, blob, px=ttl_ms)
                await pipe.execute()

            await self._call(operation_name(["SET"] * len(part)), write)
        return len(entries)

    async def info_memory(self) -> dict[str, Any]:
        return dict(await self._call("INFO", lambda: self.client.info("memory")))

    async def ping(self, force: bool = True) -> float:
        """Round trip in seconds. ``force`` probes even during the pause after a failure."""
        if force:
            self._retry_at = 0.0
        start = time.perf_counter()
        await self._call("PING", self.client.ping)
        return time.perf_counter() - start

    async def run(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Any other command (``op`` names it in the duration metric), with the same timeouts and pause."""
        return await self._call(op, fn)

    async def _call(self, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        if self.available is False and self._clock() < self._retry_at:
            raise RedisUnavailable(self.last_error or "redis unavailable")
        duration = self._bind(op)
        start = time.perf_counter()
        try:
            result = await fn()
        except _COMMAND_ERRORS as exc:
            self._instruments.db_duration.record(
                time.perf_counter() - start, {**duration.attributes, **error_attributes(exc)})
            self.command_errors += 1
            _log.warning("redis refused a %s command (%s); that call falls back to the memory tier",
                         op, type(exc).__name__)
            raise RedisCommandError(f"{type(exc).__name__} from Redis on {op}") from None
        except (RedisError, OSError) as exc:
            self._instruments.db_duration.record(
                time.perf_counter() - start, {**duration.attributes, **error_attributes(exc)})
            self._mark_down(exc)
            raise RedisUnavailable(str(exc)) from exc
        duration.record(time.perf_counter() - start)
        if self.available is not True:
            if self.available is False:
                _log.info("redis at %s is back; the Redis tier serves again", self._safe_url)
            self.available = True
        return result

    def _mark_down(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = redact_text(f"{type(exc).__name__}: {exc}")
        self.last_error_at = time.time()
        self._retry_at = self._clock() + self._retry_interval_s
        if self.available is not False:
            _log.warning("redis at %s unavailable (%s); serving from the memory tier, retrying every %.0fs",
                         self._safe_url, self.last_error, self._retry_interval_s)
        self.available = False

    @property
    def _safe_url(self) -> str:
        return redact_url(self.url)

    def status(self) -> dict[str, Any]:
        return {"url": self._safe_url, "available": bool(self.available), "failures": self.failures,
                "command_errors": self.command_errors, "last_error": self.last_error,
                "last_error_at": self.last_error_at}

    async def aclose(self) -> None:
        await self.client.aclose()


async def round_trip_ms(redis: RedisTier | None) -> float | None:
    """PING's round trip in ms; None without Redis or without an answer within a second."""
    if redis is None:
        return None
    try:
        first = await asyncio.wait_for(redis.ping(force=True), timeout=1.0)
        if first * 1000 <= 10.0:
            return first * 1000
        # the first PING of a fresh pool includes the TCP connect: judge the round trip itself
        return min(first, await asyncio.wait_for(redis.ping(force=True), timeout=1.0)) * 1000
    except (RedisUnavailable, TimeoutError):
        return None
