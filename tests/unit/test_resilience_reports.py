"""The resilience reports and the apply-preset config, as pure functions over traffic recorded through
the real instruments (no server)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from app.monitoring.windows import Window
from app.resilience import reports
from app.resilience.breaker import CircuitBreaker
from app.resilience.capacity import capacity_analysis
from app.resilience.config import ConfigError, parse_apply
from app.resilience.presets import PRESETS, config_of, policy_for
from app.resilience.timeline import preset_periods, preset_time
from instrumentation import Telemetry
from instrumentation.snapshot import Snapshot

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}
FAILED = {**CHAT, "error.type": "LLMTransientError"}
OPERATIONS = ("summarize", "sentiment")


def ai(telemetry: Telemetry, ok: int = 0, failed: int = 0, seconds: float = 0.1) -> None:
    for _ in range(ok):
        telemetry.instruments.genai_duration.record(seconds, CHAT)
    for _ in range(failed):
        telemetry.instruments.genai_duration.record(seconds, FAILED)


def admitted(telemetry: Telemetry, *in_flight: int) -> None:
    """What the limiter records as calls are admitted: the calls in flight, each one included."""
    for n in in_flight:
        telemetry.instruments.llm_at_admission.record(n)


def retries(telemetry: Telemetry, operation: str, n: int) -> None:
    telemetry.instruments.retry_attempts.add(n, {"llm_obs.operation": operation})


def moved(telemetry: Telemetry, name: str, old: str, new: str) -> None:
    telemetry.instruments.breaker_transitions.add(
        1, {"llm_obs.circuit_breaker.name": name, "llm_obs.circuit_breaker.from": old,
            "llm_obs.circuit_breaker.to": new})


def lookups(telemetry: Telemetry, operation: str, hits: int, misses: int) -> None:
    for result, n in (("hit", hits), ("miss", misses)):
        telemetry.instruments.cache_lookups.add(
            n, {"llm_obs.cache.result": result, "llm_obs.cache.tier": "memory", "llm_obs.operation": operation})


def breakers(**counts: dict[str, int]) -> dict[str, dict[str, Any]]:
    """``as_dict()`` of real breakers whose counts were driven to ``counts``."""
    out = {}
    for name in ("ai_service", *OPERATIONS):
        breaker = CircuitBreaker(name, failure_threshold=5, recovery_timeout_s=60.0)
        breaker.counts.update(counts.get(name, {}))
        out[name] = breaker.as_dict()
    return out


def test_figures_count_ai_calls_failures_retries_latency_and_opens(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    ai(telemetry, ok=18, seconds=0.1)
    ai(telemetry, failed=2, seconds=3.0)
    retries(telemetry, "summarize", 4)
    moved(telemetry, "ai_service", "closed", "open")
    moved(telemetry, "ai_service", "open", "half_open")
    row = reports.figures(Window(old, telemetry.reader.snapshot(60.0)))

    assert (row["ai_calls"], row["successful_calls"], row["failed_calls"]) == (20, 18, 2)
    assert (row["success_rate"], row["failure_rate"]) == (90.0, 10.0)  # percent
    assert row["retries"] == 4 and row["retries_per_call"] == 0.2
    assert 80.0 < row["ai_p50_ms"] <= 160.0  # the 0.1 s bucket, in ms
    assert 2560.0 < row["ai_p95_ms"] <= 5120.0
    assert row["circuit_breaker_opens"] == 1 and row["circuit_breaker_transitions"] == 2


def test_figures_of_a_quiet_window_are_zeros_not_nulls(telemetry: Telemetry) -> None:
    row = reports.figures(Window(telemetry.reader.snapshot(0.0), telemetry.reader.snapshot(1.0)))
    assert all(isinstance(v, int | float) for v in row.values())
    assert row["ai_calls"] == 0 and row["retries_per_call"] == 0.0


def test_operations_metrics_take_calls_from_the_breakers_and_retries_from_the_counter(telemetry: Telemetry) -> None:
    start = telemetry.reader.snapshot(0.0)
    retries(telemetry, "summarize", 3)
    moved(telemetry, "summarize", "closed", "open")
    moved(telemetry, "summarize", "open", "half_open")
    moved(telemetry, "summarize", "half_open", "closed")
    views = breakers(summarize={"calls": 10, "successes": 6, "failures": 4, "rejected": 2})
    ops = reports.operations_metrics(views, OPERATIONS, Window(start, telemetry.reader.snapshot(10.0)))

    s = ops["summarize"]
    assert (s["total_calls"], s["successful_calls"], s["failed_calls"]) == (10, 6, 4)
    assert (s["success_rate"], s["failure_rate"]) == (60.0, 40.0)
    assert s["retry_attempts"] == 3 and s["fail_fast_rejections"] == 2
    assert (s["circuit_breaker_opens"], s["circuit_breaker_half_opens"], s["circuit_breaker_closes"]) == (1, 1, 1)
    assert ops["sentiment"]["retry_attempts"] == 0 and ops["sentiment"]["circuit_breaker_opens"] == 0


def test_health_keeps_the_template_shape_and_names_open_breakers() -> None:
    views = breakers()
    views["summarize"] = {**views["summarize"], "state": "open"}
    views["ai_service"] = {**views["ai_service"], "state": "half_open"}
    answer = reports.health(views, OPERATIONS, PRESETS["production"], 0.0)
    assert answer["healthy"] is False and answer["status"] == "degraded"
    assert answer["details"]["open_circuit_breakers"] == ["summarize"]
    assert answer["details"]["half_open_circuit_breakers"] == ["ai_service"]
    assert (answer["details"]["total_circuit_breakers"], answer["details"]["total_operations"]) == (3, 2)
    assert answer["preset"] == "production"


def sliced(telemetry: Telemetry, per_slice: list[tuple[int, int]]) -> list[Window]:
    """One 60 s window per (ok, failed) pair, back to back."""
    snaps = [telemetry.reader.snapshot(0.0)]
    for i, (ok, failed) in enumerate(per_slice, 1):
        ai(telemetry, ok=ok)
        ai(telemetry, failed=failed)
        snaps.append(telemetry.reader.snapshot(60.0 * i))
    return [Window(a, b) for a, b in itertools.pairwise(snaps)]


def test_direction_degrades_when_failures_rise(telemetry: Telemetry) -> None:
    verdict = reports.direction(sliced(telemetry, [(10, 0), (10, 0), (5, 5), (5, 5)]))
    assert verdict["direction"] == "degrading"
    assert verdict["earlier"]["failure_rate"] == 0.0 and verdict["later"]["failure_rate"] == 50.0
    assert any("failure rate" in r for r in verdict["reasons"])


def test_direction_improves_when_failures_fall(telemetry: Telemetry) -> None:
    assert reports.direction(sliced(telemetry, [(5, 5), (5, 5), (10, 0), (10, 0)]))["direction"] == "improving"


def test_direction_is_stable_on_steady_traffic_and_without_data(telemetry: Telemetry) -> None:
    assert reports.direction(sliced(telemetry, [(10, 1)] * 4))["direction"] == "stable"
    assert reports.direction([])["direction"] == "stable"
    assert reports.direction(sliced(telemetry, [(0, 0), (0, 0)]))["direction"] == "stable"


def test_performance_trends_have_one_row_per_slice(telemetry: Telemetry) -> None:
    trends = reports.performance_trends(sliced(telemetry, [(3, 0), (0, 2)]), 24.0)["trends"]
    assert [s["ai_calls"] for s in trends["slices"]] == [3, 2]
    assert [s["failure_rate"] for s in trends["slices"]] == [0.0, 100.0]
    assert trends["direction"] == "degrading"


CHANGES = [
    {"timestamp": 100.0, "active_since": 0.0, "preset_before": "simple", "preset_after": "conservative"},
    {"timestamp": 160.0, "active_since": 100.0, "preset_before": "conservative", "preset_after": "simple"},
]


def test_preset_periods_follow_the_change_log() -> None:
    periods = preset_periods(CHANGES, "simple", 160.0, 200.0)
    assert [(p.preset, p.start, p.end, p.current) for p in periods] == [
        ("simple", 0.0, 100.0, False), ("conservative", 100.0, 160.0, False), ("simple", 160.0, 200.0, True)]
    time = preset_time(periods, 50.0, 200.0)  # a window that starts inside the first period
    assert time["simple"]["active_seconds"] == 90.0 and time["simple"]["periods"] == 2
    assert time["conservative"] == {"active_seconds": 60.0, "periods": 1, "share_percent": 40.0}


def test_preset_evolution_measures_each_period_and_explains_an_empty_one(telemetry: Telemetry) -> None:
    _w1, w2 = sliced(telemetry, [(4, 0), (1, 3)])
    periods = preset_periods(CHANGES[:1], "conservative", 100.0, 120.0)
    evolution = reports.preset_evolution("conservative", [(periods[1], w2)], 0.0)
    (row,) = evolution["performance_evolution"]
    assert row["current"] is True and row["ai_calls"] == 4 and row["failure_rate"] == 75.0
    assert evolution["currently_active"] is True and evolution["summary"]["failed_calls"] == 3

    never = reports.preset_evolution("production", [], 0.0)
    assert never["performance_evolution"] == [] and never["summary"]["periods"] == 0
    assert "has not been active" in never["note"] and '"preset": "production"' in never["note"]


def test_usage_patterns_share_peak_hour_and_preset_time(telemetry: Telemetry) -> None:
    snaps = [telemetry.reader.snapshot(3600.0 * 10)]  # 10:00 UTC
    lookups(telemetry, "summarize", hits=1, misses=2)
    snaps.append(telemetry.reader.snapshot(3600.0 * 10 + 1800))
    lookups(telemetry, "sentiment", hits=0, misses=1)
    retries(telemetry, "sentiment", 2)
    snaps.append(telemetry.reader.snapshot(3600.0 * 11 + 1800))
    slices = [Window(a, b) for a, b in itertools.pairwise(snaps)]
    views = breakers(sentiment={"calls": 3, "successes": 1, "failures": 2, "rejected": 1})
    periods = preset_periods([], "simple", 0.0, snaps[-1].timestamp)
    usage = reports.usage_patterns(Window(snaps[0], snaps[-1]), slices, views, OPERATIONS, periods, 24.0)

    assert usage["total_requests"] == 4 and usage["busiest_operation"] == "summarize"
    assert usage["operations"]["summarize"]["share_percent"] == 75.0
    assert usage["operations"]["summarize"]["cache_hits"] == 1
    assert usage["operations"]["sentiment"]["retries"] == 2
    assert usage["operations"]["sentiment"]["failures_since_start"] == 2
    assert usage["peak_hour"] == {"hour_utc": "10:00", "requests": 3}
    assert usage["requests_by_hour_utc"] == {"10:00": 3, "11:00": 1}
    assert usage["presets"]["simple"]["share_percent"] == 100.0 and usage["current_preset"] == "simple"


def test_usage_without_traffic_says_so() -> None:
    empty = Window(Snapshot(0.0), Snapshot(10.0))
    usage = reports.usage_patterns(empty, [empty], breakers(), OPERATIONS,
                                   preset_periods([], "simple", 0.0, 10.0), 1.0)
    assert usage["peak_hour"]["hour_utc"] == "none" and usage["busiest_operation"] == "none"


def test_capacity_uses_littles_law_against_the_limit(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    ai(telemetry, ok=100, seconds=4.0)  # 400 busy seconds in 100 s: 4 calls in flight on average
    admitted(telemetry, 1, 2, 3, 4)
    window = Window(old, telemetry.reader.snapshot(100.0))
    views = breakers(summarize={"successes": 5, "failures": 5})
    answer = capacity_analysis(window, [window], 4, views, replace(PRESETS["simple"], failure_threshold=3),
                                       30000.0, 1.0)
    assert answer["concurrency"]["average_in_flight"] == pytest.approx(4.0)
    assert answer["concurrency"]["peak_in_flight"] == 4
    assert answer["concurrency"]["peak_utilization_percent"] == pytest.approx(100.0)
    assert answer["concurrency"]["headroom_percent"] == 0.0
    assert answer["throughput"]["ai_calls_per_second"] == 1.0
    assert answer["throughput"]["max_sustainable_ai_calls_per_second"] == pytest.approx(1.0)
    assert any("LLM_MAX_CONCURRENCY" in r for r in answer["recommendations"])
    summarize = answer["circuit_breakers"]["summarize"]
    assert summarize["observed_failure_rate"] == 50.0
    assert summarize["chance_of_opening_per_call_percent"] == pytest.approx(100 * 0.5**5)  # threshold from the breaker
    assert any("'summarize'" in r for r in answer["recommendations"])


def test_capacity_with_room_says_so(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    ai(telemetry, ok=10, seconds=0.1)
    window = Window(old, telemetry.reader.snapshot(100.0))
    answer = capacity_analysis(window, [window], 8, breakers(), PRESETS["simple"], 30000.0, 1.0)
    assert answer["concurrency"]["headroom_percent"] > 99
    assert len(answer["recommendations"]) == 1
    assert answer["recommendations"][0].startswith("Capacity sufficient")


def test_capacity_peak_is_what_the_limiter_admitted_not_an_average_over_slices(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    ai(telemetry, ok=20, seconds=3.0)  # 60 busy seconds ending in a 10 s slice: "6 in flight" by Little's law
    admitted(telemetry, *[1, 2] * 10)
    window = Window(old, telemetry.reader.snapshot(10.0))
    answer = capacity_analysis(window, [window], 2, breakers(), PRESETS["simple"], 30000.0, 1.0)
    assert answer["concurrency"]["average_in_flight"] == pytest.approx(6.0)  # the average stays Little's law
    assert answer["concurrency"]["peak_in_flight"] == 2
    assert answer["concurrency"]["peak_utilization_percent"] == 100.0


@pytest.mark.parametrize("recorded, limit, peak", [
    ((), 8, 0), ((1, 3), 8, 3), ((8,), 8, 8), ((9,), 12, 10), ((100,), 100, 100), ((30,), 256, 32),
])
def test_peak_in_flight_from_the_buckets(telemetry: Telemetry, recorded: tuple[int, ...], limit: int,
                                         peak: int) -> None:
    old = telemetry.reader.snapshot(0.0)
    admitted(telemetry, *recorded)
    window = Window(old, telemetry.reader.snapshot(10.0))
    answer = capacity_analysis(window, [window], limit, breakers(), PRESETS["simple"], 30000.0, 1.0)
    assert answer["concurrency"]["peak_in_flight"] == peak  # exact up to 8, then the bucket's edge, at most the limit


def test_capacity_counts_waits_and_refusals(telemetry: Telemetry) -> None:
    old = telemetry.reader.snapshot(0.0)
    ai(telemetry, ok=3)
    admitted(telemetry, 1, 2, 2)
    for seconds, outcome in ((0.2, "admitted"), (1.0, "rejected"), (1.0, "rejected")):
        telemetry.instruments.llm_queue_wait.record(seconds, {"llm_obs.llm.queue.outcome": outcome})
    window = Window(old, telemetry.reader.snapshot(100.0))
    answer = capacity_analysis(window, [window], 2, breakers(), PRESETS["simple"], 30000.0, 1.0)
    concurrency = answer["concurrency"]
    assert (concurrency["calls_admitted"], concurrency["calls_waited"], concurrency["calls_rejected"]) == (3, 3, 2)
    assert 250.0 < concurrency["wait_p95_ms"] <= 1000.0
    assert any(r.startswith("2 AI calls were refused (503)") for r in answer["recommendations"])


def test_recent_changes_newest_first_with_what_changed() -> None:
    changes = [{**c, "source": "api", "before": PRESETS[c["preset_before"]].as_dict(),
                "after": PRESETS[c["preset_after"]].as_dict()} for c in CHANGES]
    answer = reports.recent_changes(changes, 1, {"preset": "simple", "overrides": {}})
    (newest,) = answer["changes"]
    assert newest["preset_after"] == "simple" and answer["total"] == 2
    assert newest["changed"]["max_attempts"] == {"before": 5, "after": 3}
    assert "failure_threshold" in newest["changed"] and "strategy" in newest["changed"]


# -- the apply-preset body -------------------------------------------------------------------------

def test_apply_body_keeps_live_overrides_unless_it_gives_its_own() -> None:
    live = {"base_delay_s": 0.0}
    policy, overrides = parse_apply(b'{"preset": "conservative"}').resolve(live)
    assert (policy.max_attempts, policy.base_delay_s, overrides) == (5, 0.0, live)
    policy, overrides = parse_apply(b'{"preset": "conservative", "overrides": {}}').resolve(live)
    assert (policy, overrides) == (PRESETS["conservative"], {})


def test_exported_config_applies_back_to_the_same_policy() -> None:
    policy = policy_for("production", max_attempts=2, base_delay_s=0.0)
    exported = config_of(policy)
    assert exported == {"preset": "production", "overrides": {"max_attempts": 2, "base_delay_s": 0.0}}
    assert parse_apply(json.dumps(exported).encode()).resolve({})[0] == policy


@pytest.mark.parametrize(("body", "says"), [
    (b"", "empty"),
    (b"preset=conservative", "must be JSON"),
    (b'["conservative"]', "JSON object"),
    (b'{"preset": "fastest"}', "valid presets: conservative, development, production, simple"),
    (b"{}", "'preset' is required"),
    (b'{"preset": "simple", "retries": 3}', "unknown field 'retries'"),
    (b'{"preset": "simple", "overrides": {"max_attempts": 0}}', "overrides.max_attempts"),
    (b'{"preset": "simple", "overrides": {"timeout": 1}}', "accepted: max_attempts"),
])
def test_bad_bodies_say_what_was_wrong(body: bytes, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_apply(body)
    assert says in str(caught.value)
