"""Maintenance mode: while on, alert notifications are silenced; alerts are still recorded.

Shared by every worker through one Redis key (with a Redis expiry when a duration is given, so a
forgotten window ends by itself); kept in memory too, which is the answer when Redis is absent or
down: then it applies to this worker only, and the state says so.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from app.infra.redis import RedisTier, RedisUnavailable
from app.monitoring.reports import iso

_log = logging.getLogger(__name__)
KEY = "monitoring:maintenance"


@dataclass(frozen=True)
class Window:
    reason: str
    started_at: float
    until: float | None  # None: until disabled
    started_by: str

    def over(self, now: float) -> bool:
        return self.until is not None and now >= self.until


class Maintenance:
    def __init__(self, redis: RedisTier | None, instance: str, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.instance = instance
        self._clock = clock
        self._local: Window | None = None
        self._unsynced = False  # changed while Redis was down: Redis gets it when it is back

    async def enable(self, reason: str, duration_minutes: float | None) -> dict[str, Any]:
        now = self._clock()
        previous, _ = await self.current()
        window = Window(reason, now, now + duration_minutes * 60 if duration_minutes else None, self.instance)
        self._local = window
        error = await self._write(window)
        _log.warning("maintenance mode on%s: %s; alert notifications silenced",
                     f" for {duration_minutes:g} min" if duration_minutes else "", reason)
        return {**self._state(window, error), "previous": self._describe(previous)}

    async def disable(self) -> dict[str, Any]:
        previous, _ = await self.current()
        self._local = None
        error = await self._write(None)
        if previous is not None:
            _log.warning("maintenance mode off after %.0fs; alert notifications resume",
                         self._clock() - previous.started_at)
        return {**self._state(None, error), "previous": self._describe(previous)}

    async def _write(self, window: Window | None) -> str | None:
        """Put ``window`` in Redis (None or over: remove it); the error when Redis cannot take it now."""
        redis = self.redis
        if redis is None:
            return None
        now = self._clock()
        try:
            if window is None or window.over(now):
                await redis.delete(KEY)
            else:
                blob = json.dumps(asdict(window))
                ttl_ms = max(1, int((window.until - now) * 1000)) if window.until is not None else None
                await redis.run("SET", lambda: redis.client.set(KEY, blob, px=ttl_ms))
        except RedisUnavailable as exc:
            self._unsynced = True
            return str(exc)
        self._unsynced = False
        return None

    async def current(self) -> tuple[Window | None, str | None]:
        """The window in force (Redis is the truth every worker shares) and the Redis error if any."""
        now = self._clock()
        if self.redis is None:
            return self._local_window(now), None
        error = await self._write(self._local) if self._unsynced else None
        if error is None:
            try:
                blob = await self.redis.get(KEY)
            except RedisUnavailable as exc:
                error = str(exc)
            else:
                self._local = self._parse(blob)  # another worker may have changed it
        return self._local_window(now), error

    @staticmethod
    def _parse(blob: bytes | None) -> Window | None:
        if not blob:
            return None
        try:
            return Window(**json.loads(blob))
        except (ValueError, TypeError) as exc:  # not ours, or from an older version: ignore it
            _log.warning("ignoring unreadable maintenance state in Redis key %s: %r", KEY, exc)
            return None

    def _local_window(self, now: float) -> Window | None:
        return None if self._local is None or self._local.over(now) else self._local

    async def active(self) -> bool:
        window, _ = await self.current()
        return window is not None

    async def state(self) -> dict[str, Any]:
        """The ``maintenance`` field of /internal/monitoring/health and /overview."""
        window, error = await self.current()
        return self._state(window, error)

    def _describe(self, window: Window | None) -> dict[str, Any] | None:
        if window is None:
            return None
        return {"reason": window.reason, "started_at": iso(window.started_at),
                "duration_seconds": round(self._clock() - window.started_at, 3), "started_by": window.started_by}

    def _state(self, window: Window | None, error: str | None) -> dict[str, Any]:
        shared = self.redis is not None and error is None
        state: dict[str, Any] = {
            "enabled": window is not None,
            "notifications": "silenced" if window is not None else "active",
            "reason": window.reason if window else None,
            "started_at": iso(window.started_at) if window else None,
            "until": iso(window.until) if window and window.until else None,
            "remaining_seconds": round(window.until - self._clock(), 3) if window and window.until else None,
            "started_by": window.started_by if window else None,
            "storage": "redis" if shared else "memory",
            "shared_by_all_workers": shared,
        }
        if self.redis is not None and error is not None:
            state["warning"] = f"Redis unavailable ({error}): maintenance mode known to this worker only"
        return state
