"""The cache's runbook answers: gathers the window and the tiers' live state, hands them to the pure
functions of ``app.cache.reports``. Maintenance (cleanup, clear, restore) is logged, as operators
expect of anything that drops data."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from app.cache import advice, reports
from app.cache.backup import Backup, Restorable, document, restorable
from app.cache.tiered import TieredCache
from app.infra.redis import NOT_CONFIGURED, round_trip_ms
from app.monitoring import reports as monitoring_reports
from app.monitoring.kpis import KPI
from app.monitoring.measurements import measure
from app.monitoring.monitor import Monitor
from app.monitoring.system import rss_bytes
from app.settings import Settings

_log = logging.getLogger("app.cache")
RESTORE_PART = 500  # backup entries read and written at a time (one Redis pipeline)


class CacheRunbook:
    def __init__(self, cache: TieredCache, monitor: Monitor, settings: Settings, catalog: tuple[KPI, ...]) -> None:
        self.cache = cache
        self.monitor = monitor
        self.settings = settings
        self.catalog = catalog

    async def facts(self, hours: float) -> reports.CacheFacts:
        settings = self.settings
        window = self.monitor.window(hours * 3600)
        m = measure(window)
        ping_ms = await round_trip_ms(self.cache.redis)  # before status(): it reflects this probe
        return reports.CacheFacts(
            window=window, m=m,
            memory_usage=monitoring_reports.memory_usage(m, settings.cache_memory_max_bytes,
                                                         settings.alert_memory_warning_mb,
                                                         settings.alert_memory_critical_mb),
            tiers=self.cache.status(), redis_configured=self.cache.redis is not None, redis_ping_ms=ping_ms,
            blobs=[blob for _key, blob, _ttl in self.cache.memory.items()[-reports.COMPRESSION_SAMPLE:]],
            compression_threshold=settings.cache_compression_threshold_bytes, catalog=self.catalog,
            max_value_bytes=settings.cache_max_value_bytes)

    async def performance_analysis(self, hours: float) -> dict[str, Any]:
        return reports.performance_analysis(hours, await self.facts(hours), time.time())

    async def recommendations(self, hours: float) -> dict[str, Any]:
        return advice.recommendations(await self.performance_analysis(hours))

    def _memory(self) -> reports.MemoryFigures:
        return reports.MemoryFigures(self.cache.memory.entries, self.cache.memory.bytes_used, rss_bytes())

    def cleanup(self) -> dict[str, Any]:
        before = self._memory()
        freed = self.cache.purge_expired()
        report = reports.cleanup_report(freed, before, self._memory(), time.time())
        _log.info("cache cleanup: %d expired entries removed, %d bytes freed", freed.entries, freed.bytes)
        return report

    async def clear(self) -> dict[str, Any]:
        before = self._memory()
        cleared = await self.cache.clear_tiers()
        report = reports.clear_report(cleared.memory, cleared.redis_keys, cleared.redis_error, before,
                                      self._memory(), time.time())
        _log.warning("cache cleared: %d memory entries, %d Redis keys (Redis: %s)", cleared.memory.entries,
                     cleared.redis_keys, report["redis"])
        return report

    async def backup(self) -> dict[str, Any]:
        snapshot = await self.cache.entries()
        return document(snapshot.entries, monitoring_reports.iso(time.time()), snapshot.redis_error,
                        snapshot.complete)

    async def restore(self, backup: Backup) -> dict[str, Any]:
        # In parts, each sorted off the event loop: decompressing and parsing up to a million values in one go
        # would hold every other request for seconds; a part at a time, they are served in between.
        now, limit = datetime.now(UTC), self.settings.cache_max_value_bytes
        left_out, redis = Restorable(), 0
        keys: list[str] = []
        redis_error = NOT_CONFIGURED if self.cache.redis is None else None  # also for an empty backup
        for start in range(0, len(backup.entries), RESTORE_PART):
            part = await asyncio.to_thread(restorable, backup.entries[start:start + RESTORE_PART],
                                           backup.created_at, now, limit)
            done = await self.cache.restore(part.alive)
            left_out.add(part)
            keys.extend(e.key for e in part.alive)
            redis += done.redis
            redis_error = redis_error or done.redis_error
        report = reports.restore_report(len(backup.entries), left_out.expired, left_out.rejected,
                                        self.cache.in_memory(keys), redis, redis_error, time.time())
        _log.warning("cache restored from a backup of %s: %d of %d entries", backup.created_at.isoformat(),
                     report["restored"], len(backup.entries))
        return report
