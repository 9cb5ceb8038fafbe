"""The cache's runbook answers as pure functions: traffic recorded through the real instruments, read
back as analysis, recommendations and backups."""

from __future__ import annotations

import base64
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.cache import advice, reports
from app.cache.backup import Backup, Restorable, merge, restorable
from app.cache.codec import encode
from app.cache.keys import cache_key
from app.cache.memory import Freed, MemoryTier
from app.monitoring.kpis import build_catalog
from app.monitoring.measurements import measure
from app.monitoring.reports import memory_usage
from app.monitoring.windows import Window
from instrumentation import Telemetry
from tests.helpers.answers import an_answer, bomb, stored

SMALL = {"result": "short"}
LARGE = {"result": "The quick brown fox jumps over the lazy dog. " * 100}
TIER = {"entries": 10, "bytes": 10_000, "max_entries": 1000, "max_bytes": 50_000_000, "evictions": 0}
EMPTY = base64.b64encode(b"J{}").decode()  # an empty object, as the codec stores it
REDIS_UP = {"url": "redis://127.0.0.1:6379", "available": True, "last_error": None}


def lookups(telemetry: Telemetry, op: str, hits: int, misses: int, tier: str = "memory") -> None:
    counter = telemetry.instruments.cache_lookups
    counter.add(hits, {"llm_obs.cache.result": "hit", "llm_obs.cache.tier": tier, "llm_obs.operation": op})
    counter.add(misses, {"llm_obs.cache.result": "miss", "llm_obs.cache.tier": "none", "llm_obs.operation": op})


def analysis(telemetry: Telemetry, *, tier: dict[str, Any] | None = None, redis_configured: bool = True,
             ping_ms: float | None = 0.4, blobs: tuple[bytes, ...] = (), redis: dict[str, Any] | None = None,
             old: Any = None) -> dict[str, Any]:
    window = Window(old or telemetry.reader.snapshot(0.0), telemetry.reader.snapshot(3600.0))
    m = measure(window)
    facts = reports.CacheFacts(
        window=window, m=m, memory_usage=memory_usage(m, 50_000_000, 50.0, 100.0),
        tiers={"memory": tier or TIER, "redis": redis or REDIS_UP}, redis_configured=redis_configured,
        redis_ping_ms=ping_ms, blobs=blobs, compression_threshold=1000, catalog=build_catalog())
    return reports.performance_analysis(1.0, facts, 3600.0)


def test_hit_ratio_per_operation_and_tier(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    lookups(telemetry, "summarize", hits=30, misses=10)
    lookups(telemetry, "sentiment", hits=5, misses=15)
    lookups(telemetry, "sentiment", hits=5, misses=0, tier="redis")
    a = analysis(telemetry, old=old)

    assert a["by_operation"]["summarize"] == {"lookups": 40, "hits": 30, "misses": 10, "hit_ratio": 75.0,
                                              "ttl_ms": 2 * 3600 * 1000}
    assert a["by_operation"]["sentiment"]["hit_ratio"] == 40.0
    assert a["by_operation"]["qa"]["lookups"] == 0  # idle operations are listed, with their TTL
    assert a["by_tier"] == {"memory": {"hits": 35, "share_of_hits": 87.5}, "redis": {"hits": 5, "share_of_hits": 12.5}}
    assert a["hit_ratio"] == pytest.approx(100 * 40 / 65, abs=0.001)
    assert a["evidence"]["samples"]["cache_lookups"] == 65


def test_lookup_and_redis_latency_percentiles(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    for _ in range(90):
        telemetry.instruments.cache_duration.record(0.0008, {"llm_obs.cache.operation": "get"})
    for _ in range(10):
        telemetry.instruments.cache_duration.record(0.02, {"llm_obs.cache.operation": "get"})
    for _ in range(20):
        telemetry.instruments.db_duration.record(0.03, {"db.system.name": "redis", "db.operation.name": "GET"})
    a = analysis(telemetry, old=old)

    get = a["lookup_latency"]["get"]
    assert get["count"] == 100
    assert 0.5 <= get["p50_ms"] <= 1.0  # in the (0.5 ms, 1 ms] bucket
    assert 10.0 <= get["p95_ms"] <= 25.0
    assert a["lookup_latency"]["set"]["count"] == 0
    redis = a["redis"]["latency"]
    assert redis["operations"] == 20 and redis["by_command"]["GET"]["count"] == 20
    assert redis["p95_latency_ms"] > 10.0
    verdict = next(v for v in a["kpis"] if v["name"] == "RedisLatencyHigh")
    assert verdict["status"] == "fail" and verdict["samples"] == 20
    assert a["status"] == "degraded"


def test_compression_share_and_savings() -> None:
    blobs = [encode(LARGE, 1000, 6), encode(SMALL, 1000, 6), encode(SMALL, 1000, 6), b"Zcorrupt"]
    c = reports.compression(blobs, 1000)
    assert (c["entries_inspected"], c["compressed_entries"], c["unreadable_entries"]) == (4, 2, 1)
    assert c["share_percent"] == 50.0
    assert c["uncompressed_bytes"] > 4000 > c["stored_bytes"] > 0
    assert c["saved_percent"] > 90.0


def test_kpi_verdicts_say_when_there_are_too_few_samples(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    lookups(telemetry, "summarize", hits=1, misses=9)  # 10 lookups: under the KPI's 20
    a = analysis(telemetry, old=old)
    verdicts = {v["name"]: v["status"] for v in a["kpis"]}
    assert verdicts == {"CacheHitRatioLow": "insufficient_data", "CacheMemoryWarning": "pass",
                        "CacheMemoryCritical": "pass", "RedisLatencyHigh": "insufficient_data"}
    assert a["status"] == "healthy"


def test_low_hit_ratio_gets_ttl_advice_from_keys(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    lookups(telemetry, "summarize", hits=2, misses=28)
    lookups(telemetry, "sentiment", hits=20, misses=5)  # 80 %: fine
    recs = advice.recommendations(analysis(telemetry, old=old))["recommendations"]

    assert [r["category"] for r in recs] == ["hit_ratio"]
    rec = recs[0]
    assert rec["priority"] == "high"  # under half the 70 % KPI
    assert "6.667%" in rec["reason"] and "30 lookups" in rec["reason"]
    assert "2 h" in rec["action"] and "TTL_SECONDS['summarize']" in rec["action"]
    assert rec["evidence"]["operation"] == "summarize"


def test_evictions_name_the_limit_that_binds(telemetry: Telemetry) -> None:
    by_entries = {**TIER, "entries": 1000, "evictions": 12}
    recs = advice.recommendations(analysis(telemetry, tier=by_entries))["recommendations"]
    assert len(recs) == 1 and "CACHE_MEMORY_MAX_ENTRIES" in recs[0]["action"] and "12 entries" in recs[0]["reason"]
    assert recs[0]["priority"] == "medium"

    by_bytes = {**TIER, "entries": 40, "bytes": 49_000_000, "evictions": 5000}
    recs = advice.recommendations(analysis(telemetry, tier=by_bytes))["recommendations"]
    assert "CACHE_MEMORY_MAX_BYTES" in recs[0]["action"] and recs[0]["priority"] == "high"


def test_redis_down_is_a_memory_only_warning(telemetry: Telemetry) -> None:
    down = {"url": "redis://10.0.0.9:6379", "available": False, "last_error": "ConnectionError: refused"}
    report = advice.recommendations(analysis(telemetry, ping_ms=None, redis=down))
    rec = report["recommendations"][0]
    assert rec["priority"] == "high" and "memory tier only" in rec["reason"] and "refused" in rec["reason"]
    assert report["status"] == "degraded"


def test_all_well_is_an_empty_list_with_a_note(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    lookups(telemetry, "summarize", hits=90, misses=10)
    report = advice.recommendations(analysis(telemetry, old=old))
    assert report["recommendations"] == [] and report["total"] == 0
    assert "Nothing to change" in report["note"] and "100 lookups" in report["note"]
    assert report["status"] == "healthy"


def test_memory_purge_reports_bytes_and_items_skip_expired() -> None:
    now = [0.0]
    mem = MemoryTier(10, 1 << 20, clock=lambda: now[0])
    mem.set("a", b"x" * 100, 10)
    mem.set("b", b"y" * 50, 100)
    now[0] = 20.0
    assert [(k, round(ttl)) for k, _b, ttl in mem.items()] == [("b", 80)]
    freed = mem.purge()
    assert freed.entries == 1 and freed.bytes == 100 + 1 + 64
    assert mem.bytes_used == 50 + 1 + 64


def test_merge_prefers_redis_ttl_and_fills_a_missing_expiry() -> None:
    key = cache_key("qa", "text", question="why?")
    other = cache_key("summarize", "other")
    entries = merge([(key, b"Jm", 300.0), (other, b"Jo", 12.5)],
                    [(key, b"Jr", 1_500_000), (cache_key("qa", "t2"), b"J2", -1)])
    by_key = {e.key: e for e in entries}
    assert by_key[key].blob == b"Jr" and by_key[key].ttl_ms == 1_500_000 and by_key[key].tiers == ("memory", "redis")
    assert by_key[other].ttl_ms == 12_500 and by_key[other].tiers == ("memory",)
    assert by_key[cache_key("qa", "t2")].ttl_ms == 30 * 60 * 1000  # no expiry in Redis: qa's TTL


def backup_doc(created: datetime, *entries: tuple[str, bytes, int]) -> dict[str, Any]:
    return {"version": 1, "created_at": created.isoformat(),
            "entries": [{"key": k, "value": base64.b64encode(b).decode(), "ttl_ms": t} for k, b, t in entries]}


def sort(doc: dict[str, Any], now: datetime, max_value_bytes: int = 64 * 1024) -> Restorable:
    backup = Backup.model_validate(doc)
    return restorable(backup.entries, backup.created_at, now, max_value_bytes)


def test_restore_counts_time_since_the_backup() -> None:
    created = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    blob = stored(an_answer("short"))
    doc = backup_doc(created, (cache_key("qa", "a"), blob, 60_000), (cache_key("qa", "b"), blob, 5_000))
    part = sort(doc, created + timedelta(seconds=10))
    assert part.expired == 1 and not part.rejected
    assert [(e.key, e.ttl_ms, e.blob) for e in part.alive] == [(cache_key("qa", "a"), 50_000, blob)]


def test_a_restore_leaves_out_each_value_that_is_no_answer_and_keeps_the_rest() -> None:
    """A decompression bomb (64 MiB of zeros in 64 KB), bad zlib, bad base64, an older version's shape,
    JSON nested past any parser's depth: each left out and counted by reason, the good entries kept."""
    now = datetime.now(UTC)
    good = stored(an_answer("kept", key_points=["a", "b"]), threshold=10)  # compressed, like a large answer
    hostile = [bomb(64 << 20), b"J" + b" " * (64 * 1024 + 1), b"Zbroken", b"Z" + zlib.compress(b"{}")[:-2],
               stored({**an_answer("older"), "operation": "qa"}), stored({"result": "partial"}),
               b"J" + b"[" * 20_000 + b"]" * 20_000, b"J\xff\xfe", b"Xunknown"]
    entries = [(cache_key("qa", f"hostile {i}"), blob, 60_000) for i, blob in enumerate(hostile)]
    doc = backup_doc(now, (cache_key("qa", "first"), good, 60_000), *entries, (cache_key("qa", "last"), good, 1))
    doc["entries"].insert(3, {"key": cache_key("qa", "not base64"), "value": "%%%", "ttl_ms": 60_000})
    doc["entries"].insert(4, {"key": cache_key("qa", "not ASCII"), "value": "é", "ttl_ms": 60_000})
    tracemalloc.start()
    try:
        part = sort(doc, now)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [e.key for e in part.alive] == [cache_key("qa", "first"), cache_key("qa", "last")]
    assert all(e.blob == good for e in part.alive)
    assert part.rejected == {"too_large": 2, "corrupt": 5, "not_an_answer": 4}
    assert peak < 8 << 20, f"decoding held {peak >> 20} MiB: the bomb was inflated"

    report = reports.restore_report(len(doc["entries"]), part.expired, part.rejected, 2, 0, "not configured", 0.0)
    assert report["restored"] == 2 and report["skipped"] == 11
    assert report["skipped_reasons"] == {"expired_since_backup": 0, "did_not_fit": 0, "value_too_large": 2,
                                         "value_corrupt": 5, "value_not_an_answer": 4}
    assert report["warnings"] == ["11 entries were left out, their value unreadable (5), not an answer of this "
                                  "service (4), over CACHE_MAX_VALUE_BYTES once decompressed (2)"]


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 2}, "Input should be 1"),
    ({"created_at": "yesterday"}, "datetime"),
    ({"created_at": "2025-01-01T00:00:00"}, "timezone"),
    ({"entries": [{"key": "other_prefix|x", "value": EMPTY, "ttl_ms": 5}]}, r"should match pattern .\^ai_cache"),
    ({"entries": [{"key": "ai_cache|op:qa|x", "value": EMPTY, "ttl_ms": 0}]}, "greater than 0"),
])
def test_malformed_backups_are_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    doc = {**backup_doc(datetime.now(UTC)), **change}
    with pytest.raises(ValidationError, match=message):
        Backup.model_validate(doc)


def test_a_clear_that_redis_broke_off_says_how_far_it_got() -> None:
    figures = reports.MemoryFigures(0, 0, 0)
    partial = reports.clear_report(Freed(3, 300), 500, "ConnectionError: reset", figures, figures, 0.0)
    assert partial["complete"] is False and partial["cleared"]["redis"] == 500
    assert partial["warnings"] == ["Redis stopped answering after 500 keys were deleted (ConnectionError: reset): "
                                   "the keys left keep their TTL; clear again when Redis is back"]
    down = reports.clear_report(Freed(3, 300), 0, "ConnectionError: refused", figures, figures, 0.0)
    assert down["complete"] is False and "only the memory tier was used" in down["warnings"][0]
    alone = reports.clear_report(Freed(3, 300), 0, "not configured", figures, figures, 0.0)
    assert alone["complete"] is True and alone["warnings"] == []
