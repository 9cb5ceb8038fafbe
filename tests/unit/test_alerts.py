"""The in-process alert engine: breaches with minimum samples, and alert lifecycles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from app.monitoring.alerts import Alert, AlertBook, breaches, by_severity
from app.monitoring.kpis import build_catalog
from app.monitoring.measurements import Measurements
from tests.helpers.alerts import FLAPPING, QUIET, AlertKey, engine_state, flap_concurrently

CATALOG = build_catalog()


def names(found: list[tuple[object, float]]) -> set[str]:
    return {kpi.name for kpi, _value in found}  # type: ignore[attr-defined]


def test_quiet_measurements_breach_nothing() -> None:
    assert breaches(CATALOG, QUIET) == []


def test_min_samples_keeps_a_few_slow_requests_from_alerting() -> None:
    slow = replace(QUIET, p95_response_time=3000.0, p99_response_time=3000.0)
    assert "ApiLatencyP95High" not in names(breaches(CATALOG, replace(slow, requests=9)))
    found = breaches(CATALOG, replace(slow, requests=10))
    assert "ApiLatencyP95High" in names(found)
    assert dict((k.name, v) for k, v in found)["ApiLatencyP95High"] == 3000.0


def test_min_samples_for_the_hit_ratio() -> None:
    cold = replace(QUIET, hit_ratio=10.0, cache_lookups=19)
    assert "CacheHitRatioLow" not in names(breaches(CATALOG, cold))
    assert "CacheHitRatioLow" in names(breaches(CATALOG, replace(cold, cache_lookups=20)))


def test_kpis_without_min_samples_judge_at_once() -> None:
    found = names(breaches(CATALOG, replace(QUIET, breaker_states={"ai_service": "open"}, cache_memory_mb=150.0)))
    assert {"CircuitBreakerOpen", "CacheMemoryWarning", "CacheMemoryCritical"} <= found


def test_error_rate_levels() -> None:
    m = replace(QUIET, requests=100, errors=3, error_rate=3.0)
    assert names(breaches(CATALOG, m)) == {"ApiErrorRateHigh"}
    assert names(breaches(CATALOG, replace(m, error_rate=6.0))) == {"ApiErrorRateHigh", "ApiErrorRateCritical"}


class Recorder:
    def __init__(self) -> None:
        self.fired: list[Alert] = []
        self.resolved: list[Alert] = []


def bad() -> Measurements:
    return FLAPPING


def test_alert_lifecycle_fires_once_keeps_first_seen_and_resolves() -> None:
    rec = Recorder()
    book = AlertBook(CATALOG, on_fire=rec.fired.append, on_resolve=rec.resolved.append)

    active = book.evaluate(bad(), now=100.0)
    assert {a.name for a in active} == {"ApiErrorRateHigh", "ApiErrorRateCritical", "CircuitBreakerOpen"}
    assert sorted(a.name for a in rec.fired) == ["ApiErrorRateCritical", "ApiErrorRateHigh", "CircuitBreakerOpen"]
    assert all(a.status == "firing" for a in active)
    # most severe first
    assert [a.severity for a in active] == sorted((a.severity for a in active),
                                                  key=("critical", "warning", "info").index)

    again = book.evaluate(replace(bad(), error_rate=12.0), now=160.0)
    assert len(rec.fired) == 3, "a firing alert was announced twice"
    critical = next(a for a in again if a.name == "ApiErrorRateCritical")
    assert critical.first_seen == 100.0
    assert critical.last_seen == 160.0
    assert critical.value == 12.0
    assert "12" in critical.message

    assert book.evaluate(QUIET, now=220.0) == []
    assert sorted(a.name for a in rec.resolved) == ["ApiErrorRateCritical", "ApiErrorRateHigh", "CircuitBreakerOpen"]
    for alert in rec.resolved:
        assert alert.status == "resolved"
        assert alert.resolved_at == 220.0
        assert alert.first_seen == 100.0
    assert book.active == {}
    assert {a.name for a in book.resolved} == {a.name for a in rec.resolved}

    book.evaluate(QUIET, now=280.0)
    assert len(rec.resolved) == 3, "a resolved alert was announced twice"


def test_an_alert_that_comes_back_fires_again() -> None:
    rec = Recorder()
    book = AlertBook(CATALOG, on_fire=rec.fired.append, on_resolve=rec.resolved.append)
    open_breaker = replace(QUIET, breaker_states={"summarize": "open"})
    book.evaluate(open_breaker, now=1.0)
    book.evaluate(QUIET, now=2.0)
    book.evaluate(open_breaker, now=3.0)
    assert [a.name for a in rec.fired] == ["CircuitBreakerOpen", "CircuitBreakerOpen"]
    assert book.active["CircuitBreakerOpen"].first_seen == 3.0


def test_alert_carries_the_guide_response_time_and_escalation() -> None:
    book = AlertBook(CATALOG)
    (alert,) = book.evaluate(replace(QUIET, breaker_states={"ai_service": "open"}), now=5.0)
    assert alert.severity == "critical"
    assert alert.response_time == "< 15 minutes"
    assert alert.escalation == "Immediate escalation"
    assert alert.as_dict()["status"] == "firing"


def test_by_severity_counts_every_level() -> None:
    book = AlertBook(CATALOG)
    active = book.evaluate(replace(bad(), config_load_ms=250.0), now=1.0)
    assert by_severity(active) == {"critical": 2, "warning": 1, "info": 1}
    assert by_severity([]) == {"critical": 0, "warning": 0, "info": 0}


def test_resolved_alerts_are_bounded() -> None:
    book = AlertBook(CATALOG, keep_resolved=2)
    for i in range(5):
        book.evaluate(replace(QUIET, breaker_states={"x": "open"}), now=2.0 * i)
        book.evaluate(QUIET, now=2.0 * i + 1)
    assert len(book.resolved) == 2


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_every_severity_has_a_kpi(severity: str) -> None:
    assert any(k.severity == severity for k in CATALOG)


def test_concurrent_evaluations_reach_the_receiver_in_the_order_they_happened() -> None:
    # The receiver keeps the last word it got on each firing of each alert, as the webhook receiver,
    # the alert store and Alertmanager do; it yields on each call, as any real receiver does.
    seen: dict[AlertKey, str] = {}

    def receive(word: str) -> Callable[[Alert], None]:
        def hook(alert: Alert) -> None:
            time.sleep(0)
            seen[(alert.name, alert.first_seen)] = word
        return hook

    book = AlertBook(CATALOG, keep_resolved=100_000, on_fire=receive("firing"), on_resolve=receive("resolved"))
    flap_concurrently(book)
    assert len(book.resolved) > 100, "the alerts did not flap"
    wrong = {key: (word, engine) for key, engine in engine_state(book).items() if (word := seen.get(key)) != engine}
    assert not wrong, f"{len(wrong)} end otherwise at the receiver (receiver, engine): {list(wrong.items())[:5]}"


def test_hooks_get_the_alert_as_it_was_at_the_change() -> None:
    rec = Recorder()
    book = AlertBook(CATALOG, on_fire=rec.fired.append, on_resolve=rec.resolved.append)
    book.evaluate(FLAPPING, now=1.0)
    book.evaluate(QUIET, now=2.0)
    assert {a.status for a in rec.fired} == {"firing"} and {a.status for a in rec.resolved} == {"resolved"}


def test_a_failing_hook_neither_fails_the_evaluation_nor_drops_the_other_changes() -> None:
    rec = Recorder()

    def broken(alert: Alert) -> None:
        raise RuntimeError("receiver down")

    book = AlertBook(CATALOG, on_fire=broken, on_resolve=rec.resolved.append)
    assert len(book.evaluate(FLAPPING, now=1.0)) == 3
    assert book.evaluate(QUIET, now=2.0) == []
    assert len(rec.resolved) == 3
