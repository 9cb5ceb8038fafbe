"""Recovery verdicts over slices, post-recovery checks with evidence, and monitoring status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.monitoring.alerts import AlertBook
from app.monitoring.checks import (
    breakers_check,
    cache_check,
    checks_report,
    critical_alerts_check,
    error_rate_check,
    monitoring_status,
    recovery_report,
    recovery_verdict,
    redis_check,
    telemetry_check,
)
from app.monitoring.kpis import build_catalog
from app.monitoring.measurements import Measurements, measure
from app.monitoring.windows import Window
from instrumentation.snapshot import Snapshot

OK = replace(measure(Window(Snapshot(0.0), Snapshot(60.0))), requests=100, p95_response_time=300.0)
ERR, P95 = 1.0, 2000.0


def failing(error_rate: float) -> Measurements:
    return replace(OK, errors=int(error_rate), error_rate=error_rate)


@pytest.mark.parametrize(("slices", "verdict"), [
    ([OK, OK, OK], "stable"),
    ([failing(20), failing(10), OK], "recovered"),
    ([OK, failing(20), failing(5)], "recovering"),
    ([OK, failing(5), failing(20)], "degrading"),
    ([OK, OK, failing(3)], "degrading"),
    ([OK, replace(OK, breaker_states={"ai_service": "open"}), replace(OK, p95_response_time=2500.0)], "recovering"),
    ([OK, replace(OK, p95_response_time=2500.0), replace(OK, breaker_states={"ai_service": "open"})], "degrading"),
])
def test_recovery_verdict(slices: list[Measurements], verdict: str) -> None:
    assert recovery_verdict(slices, ERR, P95) == verdict


def test_live_breakers_are_newer_than_the_slices() -> None:
    assert recovery_report([OK], 60.0, 30, ERR, P95, {"ai_service": "open"})["verdict"] == "degrading"
    assert recovery_report([OK], 60.0, 30, ERR, P95, {"ai_service": "half_open"})["verdict"] == "recovering"
    assert recovery_report([OK], 60.0, 30, ERR, P95, {"ai_service": "closed"})["verdict"] == "stable"


def test_recovery_report_slices_carry_their_evidence() -> None:
    report = recovery_report([failing(20), OK], 120.0, 2, ERR, P95, {"ai_service": "closed"})
    assert report["verdict"] == "recovered"
    assert [s["healthy"] for s in report["slices"]] == [False, True]
    assert report["slices"][0]["error_rate"] == 20.0
    assert report["last_unhealthy"] == report["slices"][0]["end"]
    assert report["current"]["end"].startswith("1970-01-01T00:02:00")
    assert report["thresholds"] == {"error_rate": ERR, "p95_response_time": P95, "open_breakers": 0}


def test_each_check_holds_a_value_to_a_threshold() -> None:
    assert error_rate_check(failing(3), 1.0)["passed"] is False
    bad = error_rate_check(failing(3), 1.0)["evidence"]
    assert (bad["value"], bad["threshold"], bad["requests"]) == (3.0, 1.0, 100)
    assert error_rate_check(replace(OK, requests=0), 1.0)["message"] == "no API requests in the window"
    assert breakers_check({"ai_service": "half_open", "qa": "closed"})["evidence"]["not_closed"] == {
        "ai_service": "half_open"}
    assert redis_check(True, None, {"last_error": "ConnectionError: refused"})["passed"] is False
    assert redis_check(False, None, {})["passed"] is True
    assert redis_check(True, 0.4, {})["evidence"]["value"] == 0.4
    assert telemetry_check([])["passed"] is True
    assert telemetry_check([{"signal": "traces", "healthy": False, "last_error": "refused"}])["passed"] is False
    assert telemetry_check([{"signal": "traces", "healthy": None, "last_error": None}])["passed"] is True
    assert cache_check(True, False, OK)["evidence"]["serving_tiers"] == "memory"


def test_critical_alerts_fail_the_check_warnings_do_not() -> None:
    book = AlertBook(build_catalog())
    warning = book.evaluate(replace(OK, requests=100, hit_ratio=10.0, cache_lookups=50), 0.0)
    assert critical_alerts_check(warning)["passed"] is True
    critical = book.evaluate(replace(OK, breaker_states={"ai_service": "open"}), 1.0)
    result = critical_alerts_check(critical)
    assert result["passed"] is False and result["evidence"]["firing"] == ["CircuitBreakerOpen"]


def test_report_passes_only_when_every_check_passes() -> None:
    good = [breakers_check({"a": "closed"}), error_rate_check(OK, 1.0)]
    assert checks_report("post-recovery", good, 0.0)["verdict"] == "pass"
    report = checks_report("post-recovery", [*good, error_rate_check(failing(9), 1.0)], 0.0)
    assert (report["passed"], report["verdict"], report["failed"]) == (False, "fail", ["error_rate"])
    assert report["summary"] == "1 of 3 checks failed: error_rate"


def test_status_collecting_stalled_and_disabled() -> None:
    exports = [{"signal": "metrics", "healthy": True}]
    fresh = monitoring_status(True, True, 10, 1000.0, 1030.0, 60.0, 3600.0, None, exports)
    assert fresh["collecting"] is True and fresh["problems"] == []
    stale = monitoring_status(True, True, 10, 1000.0, 1200.0, 60.0, 3600.0, None, exports)
    assert stale["collecting"] is False and stale["status"] == "stalled"
    assert "200 s old" in stale["problems"][0]
    dead = monitoring_status(True, False, 10, 1000.0, 1001.0, 60.0, 3600.0, None, [])
    assert dead["collecting"] is False and "not running" in dead["problems"][0]
    off = monitoring_status(False, False, 0, None, 1.0, 60.0, 3600.0, None, [])
    assert off["status"] == "disabled" and "ENABLE_MONITORING=false" in off["problems"][0]
    failed = monitoring_status(True, True, 10, 1000.0, 1001.0, 60.0, 3600.0, "ValueError()", exports)
    assert failed["collecting"] is False and "ValueError()" in failed["problems"][0]
