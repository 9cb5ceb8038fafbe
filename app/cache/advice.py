"""Cache recommendations, derived from ``reports.performance_analysis`` alone, so each one can point at
the measured number that caused it: its ``reason`` is that evidence, its ``action`` what to change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HIT_RATIO_KPI = "CacheHitRatioLow"
_PRIORITY = {"high": 0, "medium": 1, "low": 2}


def _duration(ms: float) -> str:
    seconds = ms / 1000
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _rec(category: str, priority: str, reason: str, action: str, **evidence: Any) -> dict[str, Any]:
    return {"category": category, "priority": priority, "reason": reason, "action": action, "evidence": evidence}


def _redis_advice(redis: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not redis["configured"]:
        return [_rec("redis", "low", "Redis is disabled by configuration (REDIS_ENABLED=false): the cache lives "
                     "in this process only", "Enable Redis (REDIS_ENABLED=true, REDIS_URL) to share the cache "
                     "between instances and keep it across restarts")]
    if not redis["available"]:
        return [_rec("redis", "high", f"Redis at {redis['url']} does not answer ({redis['last_error']}): the cache "
                     "runs on the memory tier only", "Start Redis or fix REDIS_URL. Until it is back each instance "
                     "caches alone, the cache is lost on restart, and hits fall to what one process has seen",
                     url=redis["url"], last_error=redis["last_error"])]
    return []


def _hit_ratio_advice(a: Mapping[str, Any], kpi: Mapping[str, Any]) -> list[dict[str, Any]]:
    threshold, minimum = float(kpi["threshold"]), int(kpi["min_samples"])
    hours = a["time_window_hours"]
    advice = []
    for op, row in a["by_operation"].items():
        if row["lookups"] < minimum or row["hit_ratio"] >= threshold:
            continue
        ttl = _duration(row["ttl_ms"])
        advice.append(_rec(
            "hit_ratio", "high" if row["hit_ratio"] < threshold / 2 else "medium",
            f"'{op}' hit ratio is {row['hit_ratio']:g}% over {row['lookups']} lookups in the last {hours:g} h "
            f"({row['misses']} misses), below the {threshold:g}% KPI",
            f"Its TTL is {ttl} (TTL_SECONDS['{op}'] in app/cache/keys.py). If the same texts come back after more "
            f"than {ttl}, raise it (for example to {_duration(row['ttl_ms'] * 2)}); if most '{op}' texts are "
            "unique, no TTL will raise the ratio", operation=op, **row))
    if not advice and kpi["status"] == "fail":
        advice.append(_rec("hit_ratio", "medium", f"Overall hit ratio is {a['hit_ratio']:g}% over "
                           f"{a['total_lookups']} lookups, below the {threshold:g}% KPI; no single operation has "
                           f"{minimum} lookups to judge it alone", "Check the per-operation figures of "
                           "/internal/cache/performance-analysis as traffic grows; raise the TTLs in "
                           "app/cache/keys.py of the operations whose texts recur",
                           hit_ratio=a["hit_ratio"], lookups=a["total_lookups"]))
    return advice


def _eviction_advice(tier: Mapping[str, Any]) -> list[dict[str, Any]]:
    if tier["evictions"] <= 0:
        return []
    by_bytes = tier["bytes_utilization_percent"] >= tier["entries_utilization_percent"]
    setting, now = (("CACHE_MEMORY_MAX_BYTES", f"{tier['max_mb']:g} MB") if by_bytes
                    else ("CACHE_MEMORY_MAX_ENTRIES", f"{tier['max_entries']} entries"))
    return [_rec("memory_tier", "high" if tier["evictions"] >= tier["max_entries"] else "medium",
                 f"{tier['evictions']} entries evicted from the memory tier since start; it holds "
                 f"{tier['live_entries']}/{tier['max_entries']} entries and {tier['live_mb']:g}/{tier['max_mb']:g} MB",
                 f"Raise {setting} (now {now}) so recent results stay in memory; keep the cache memory under "
                 f"ALERT_MEMORY_WARNING_MB ({tier['warning_threshold_mb']:g} MB)", evictions=tier["evictions"],
                 limit=setting)]


def _kpi_advice(kpis: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    advice = []
    for v in kpis:
        if v["status"] != "fail":
            continue
        priority = "high" if v["severity"] == "critical" else "medium"
        if v["name"].startswith("CacheMemory"):
            advice.append(_rec("memory", priority, f"Cache memory is {v['value']:g} MB, above the "
                               f"{v['threshold']:g} MB {v['severity']} threshold", "POST /internal/cache/cleanup "
                               "drops expired entries; lower CACHE_MEMORY_MAX_BYTES below the threshold, or raise "
                               "ALERT_MEMORY_WARNING_MB/ALERT_MEMORY_CRITICAL_MB if the host has room",
                               kpi=v["name"], value=v["value"]))
        elif v["name"] == "RedisLatencyHigh":
            advice.append(_rec("redis", priority, f"Redis P95 is {v['value']:g} ms over {v['samples']} operations, "
                               f"above the {v['threshold']:g} ms KPI", "Check the Redis host's load and the network "
                               "path (redis-cli --latency); keep Redis next to the service", kpi=v["name"],
                               value=v["value"]))
    return advice


def recommendations(a: Mapping[str, Any]) -> dict[str, Any]:
    """Advice derived from ``performance_analysis`` alone, most urgent first."""
    kpi = next((v for v in a["kpis"] if v["name"] == HIT_RATIO_KPI), None)
    found = [*_redis_advice(a["redis"]), *(_hit_ratio_advice(a, kpi) if kpi else []),
             *_eviction_advice(a["memory_tier"]), *_kpi_advice(a["kpis"])]
    found.sort(key=lambda r: _PRIORITY[r["priority"]])
    if found:
        note = f"{len(found)} recommendation(s) from the last {a['time_window_hours']:g} h of measurements"
    else:
        note = (f"Nothing to change: no cache KPI breached, no evictions, Redis "
                f"{'reachable' if a['redis']['available'] else 'not configured'} "
                f"({a['total_lookups']} lookups in the last {a['time_window_hours']:g} h)")
    return {"timestamp": a["timestamp"], "time_window_hours": a["time_window_hours"], "status": a["status"],
            "recommendations": found, "total": len(found), "note": note, "evidence": a["evidence"]}
