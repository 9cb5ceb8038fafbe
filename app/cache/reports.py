"""The cache's runbook answers, as pure functions of what was measured.

``performance_analysis`` turns a window and the tiers' state into figures with their evidence and the
cache KPIs' verdicts (``app.cache.advice`` derives the recommendations from it); the maintenance
reports say what a cleanup, clear or restore did. Units as in ``app.monitoring.reports.UNITS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.cache.codec import DEFAULT_MAX_VALUE_BYTES, is_compressed, raw_size
from app.cache.keys import TTL_SECONDS, ttl_for
from app.cache.memory import Freed
from app.infra.redis import outcome
from app.monitoring import reports
from app.monitoring.analysis import kpi_results
from app.monitoring.health import Status
from app.monitoring.kpis import KPI
from app.monitoring.measurements import Measurements, percent, to_ms
from app.monitoring.windows import Window, mean, quantile
from instrumentation.instruments import CACHE_DURATION, CACHE_LOOKUPS, DB_DURATION

CACHE_KPI_SOURCES = ("cache", "redis")
# Compression figures decompress each value; the most recently used ones stand for the tier, so an
# analysis of a tier raised to 100k entries does not hold the event loop for a second.
COMPRESSION_SAMPLE = 1000


@dataclass(frozen=True)
class CacheFacts:
    """Everything an analysis reads: the window, its measurements and the tiers' live state."""

    window: Window
    m: Measurements
    memory_usage: Mapping[str, Any]  # reports.memory_usage
    tiers: Mapping[str, Any]  # TieredCache.status()
    redis_configured: bool
    redis_ping_ms: float | None  # None: not reachable (or not configured)
    blobs: Sequence[bytes]  # the memory tier's stored values
    compression_threshold: int
    catalog: Sequence[KPI]
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES  # CACHE_MAX_VALUE_BYTES: how far a value is decompressed


def _is_redis(attrs: Mapping[str, object]) -> bool:
    return attrs.get("db.system.name") == "redis"


def by_operation(window: Window) -> dict[str, dict[str, Any]]:
    """Hit ratio per text operation, every known operation listed (idle ones with 0 lookups)."""
    hits = window.counter_by(CACHE_LOOKUPS, "llm_obs.operation", lambda a: a.get("llm_obs.cache.result") == "hit")
    misses = window.counter_by(CACHE_LOOKUPS, "llm_obs.operation", lambda a: a.get("llm_obs.cache.result") == "miss")
    rows = {}
    for op in sorted(set(TTL_SECONDS) | set(hits) | set(misses)):
        h, m = int(hits.get(op, 0)), int(misses.get(op, 0))
        rows[op] = {"lookups": h + m, "hits": h, "misses": m, "hit_ratio": percent(h, h + m),
                    "ttl_ms": ttl_for(op) * 1000}
    return rows


def by_tier(window: Window) -> dict[str, dict[str, Any]]:
    """Which tier answered the hits: many Redis hits mean the memory tier is too small or too new."""
    hits = window.counter_by(CACHE_LOOKUPS, "llm_obs.cache.tier", lambda a: a.get("llm_obs.cache.result") == "hit")
    total = sum(hits.values())
    return {tier: {"hits": int(hits.get(tier, 0)), "share_of_hits": percent(hits.get(tier, 0), total)}
            for tier in ("memory", "redis")}


def _latency(points: Mapping[str, Any], names: Iterable[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in names:
        point = points.get(name)
        out[name] = {"count": point.count if point else 0, "avg_ms": to_ms(mean(point)),
                     "p50_ms": to_ms(quantile(0.5, point)), "p95_ms": to_ms(quantile(0.95, point))}
    return out


def lookup_latency(window: Window) -> dict[str, dict[str, Any]]:
    return _latency(window.histogram_by(CACHE_DURATION, "llm_obs.cache.operation"), ("get", "set"))


def redis_latency(window: Window, m: Measurements) -> dict[str, Any]:
    commands = window.histogram_by(DB_DURATION, "db.operation.name", _is_redis)
    overall = window.histogram(DB_DURATION, _is_redis)
    return {**reports.redis_metrics(m), "p50_latency_ms": to_ms(quantile(0.5, overall)),
            "by_command": _latency(commands, sorted(commands))}


def compression(blobs: Sequence[bytes], threshold: int,
                max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> dict[str, Any]:
    """How many stored values are compressed, and how much that saved, over the memory tier's values."""
    compressed = [b for b in blobs if is_compressed(b)]
    stored = raw = unreadable = 0
    for blob in compressed:
        try:
            raw += raw_size(blob, max_value_bytes)
        except ValueError:
            unreadable += 1
            continue
        stored += len(blob)
    return {"entries_inspected": len(blobs), "compressed_entries": len(compressed),
            "share_percent": percent(len(compressed), len(blobs)), "stored_bytes": stored,
            "uncompressed_bytes": raw, "saved_percent": percent(raw - stored, raw),
            "unreadable_entries": unreadable, "threshold_bytes": threshold}


def kpi_verdicts(catalog: Sequence[KPI], m: Measurements,
                 sources: Sequence[str] = CACHE_KPI_SOURCES) -> list[dict[str, Any]]:
    """The cache's KPIs judged as /internal/monitoring/performance judges them: pass, fail, or
    insufficient_data when there are too few samples to say."""
    return kpi_results([k for k in catalog if k.source in sources], m)


def _status(verdicts: Sequence[Mapping[str, Any]], redis: Mapping[str, Any]) -> Status:
    severities = {v["severity"] for v in verdicts if v["status"] == "fail"}
    if "critical" in severities:
        return "unhealthy"
    if severities or (redis["configured"] and not redis["available"]):
        return "degraded"
    return "healthy"


def memory_tier(memory_usage: Mapping[str, Any], tier: Mapping[str, Any]) -> dict[str, Any]:
    return {**memory_usage, "live_entries": tier["entries"], "live_mb": round(tier["bytes"] / 1e6, 4),
            "max_entries": tier["max_entries"],
            "entries_utilization_percent": percent(tier["entries"], tier["max_entries"]),
            "bytes_utilization_percent": percent(tier["bytes"], tier["max_bytes"]),
            "evictions": tier["evictions"]}


def performance_analysis(hours: float, f: CacheFacts, now: float) -> dict[str, Any]:
    redis_status = f.tiers["redis"]
    redis = {"configured": f.redis_configured, "available": f.redis_ping_ms is not None,
             "ping_ms": round(f.redis_ping_ms, 3) if f.redis_ping_ms is not None else None,
             "url": redis_status.get("url"), "last_error": redis_status.get("last_error"),
             "latency": redis_latency(f.window, f.m)}
    latency = lookup_latency(f.window)
    verdicts = kpi_verdicts(f.catalog, f.m)
    return {
        "timestamp": reports.iso(now),
        "time_window_hours": hours,
        "units": reports.UNITS,
        "status": _status(verdicts, redis),
        "hit_ratio": f.m.hit_ratio,
        "total_lookups": f.m.cache_lookups,
        "by_operation": by_operation(f.window),
        "by_tier": by_tier(f.window),
        "lookup_latency": latency,
        "memory_tier": memory_tier(f.memory_usage, f.tiers["memory"]),
        "redis": redis,
        "compression": compression(f.blobs, f.compression_threshold, f.max_value_bytes),
        "kpis": verdicts,
        "evidence": {
            "window": {"start": reports.iso(f.window.old.timestamp), "end": reports.iso(f.window.new.timestamp),
                       "covered_seconds": round(f.window.seconds, 3)},
            "samples": {"cache_lookups": f.m.cache_lookups, "cache_get_timings": latency["get"]["count"],
                        "redis_operations": f.m.redis_operations, "memory_entries_inspected": len(f.blobs)},
            "sources": {"hit_ratio": CACHE_LOOKUPS, "lookup_latency": CACHE_DURATION, "redis_latency": DB_DURATION,
                        "memory": "llm_obs.cache.memory.usage", "evictions": "memory tier eviction count since start",
                        "compression": f"the memory tier's {COMPRESSION_SAMPLE} most recently used values"},
        },
    }


@dataclass(frozen=True)
class MemoryFigures:
    entries: int
    bytes: int
    process_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "memory_mb": round(self.bytes / 1e6, 4),
                "process_memory_mb": round(self.process_bytes / 1e6, 3)}


def cleanup_report(freed: Freed, before: MemoryFigures, after: MemoryFigures, now: float) -> dict[str, Any]:
    return {"timestamp": reports.iso(now), "units": reports.UNITS,
            "expired_entries_removed": freed.entries, "bytes_freed": freed.bytes,
            "freed_mb": round(freed.bytes / 1e6, 4),
            "memory_before": before.as_dict(), "memory_after": after.as_dict(),
            "note": "expired entries left the memory tier; Redis expires its keys by TTL itself"}


def clear_report(memory: Freed, redis_keys: int, redis_error: str | None, before: MemoryFigures,
                 after: MemoryFigures, now: float) -> dict[str, Any]:
    redis, warnings = outcome(redis_error)
    # Complete when every ai_cache key Redis held was walked (or there is no Redis to clear).
    complete = redis_error is None or redis == "not_configured"
    if not complete and redis_keys:  # it stopped partway: say how far, not "only the memory tier"
        warnings = [f"Redis stopped answering after {redis_keys} keys were deleted ({redis_error}): the keys "
                    "left keep their TTL; clear again when Redis is back"]
    return {"timestamp": reports.iso(now), "units": reports.UNITS, "complete": complete,
            "cleared": {"memory": memory.entries, "redis": redis_keys, "total": memory.entries + redis_keys},
            "bytes_freed": memory.bytes, "freed_mb": round(memory.bytes / 1e6, 4),
            "redis": redis, "warnings": warnings,
            "memory_before": before.as_dict(), "memory_after": after.as_dict()}


REJECTED = {"too_large": "over CACHE_MAX_VALUE_BYTES once decompressed", "corrupt": "unreadable",
            "not_an_answer": "not an answer of this service"}


def restore_report(total: int, expired: int, rejected: Mapping[str, int], memory: int, redis: int,
                   redis_error: str | None, now: float) -> dict[str, Any]:
    """``restored`` counts entries that reached at least one tier (Redis takes all it is sent);
    ``rejected`` the values that are no answer, by reason (``InvalidValue.reason``)."""
    restored = max(memory, redis)
    redis_status, warnings = outcome(redis_error)
    refused = sum(rejected.values())
    not_kept = total - expired - refused - restored
    if refused:
        warnings.append(f"{refused} entries were left out, their value "
                        + ", ".join(f"{REJECTED.get(r, r)} ({n})" for r, n in sorted(rejected.items())))
    if not_kept:
        warnings.append(f"{not_kept} entries did not fit in the memory tier's bounds (CACHE_MEMORY_MAX_*)")
    return {"timestamp": reports.iso(now), "entries_in_backup": total, "restored": restored,
            "skipped": total - restored,
            "skipped_reasons": {"expired_since_backup": expired, "did_not_fit": not_kept,
                                **{f"value_{r}": rejected.get(r, 0) for r in REJECTED}},
            "tiers": {"memory": memory, "redis": redis}, "redis": redis_status, "warnings": warnings}
