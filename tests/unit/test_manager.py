"""``Resilience``: retries around an operation breaker and the ``ai_service`` breaker, with real metrics."""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

import pytest

from app.resilience import manager as manager_module
from app.resilience.breaker import CircuitOpenError
from app.resilience.manager import SERVICE_BREAKER, Resilience
from app.resilience.presets import PRESETS, ResiliencePolicy
from app.resilience.retry import retry_async
from app.services.llm.base import LLMPermanentError, LLMTransientError
from instrumentation import Telemetry

OPERATIONS = ("summarize", "sentiment")
# No backoff: these tests are about verdicts, not waiting.
FAST = ResiliencePolicy("fast", max_attempts=5, failure_threshold=2, recovery_timeout_s=60.0,
                        base_delay_s=0.0, max_delay_s=0.0, strategy="balanced")


class Provider:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return "done"


@pytest.fixture
def resilience(telemetry: Telemetry) -> Resilience:
    return Resilience(FAST, OPERATIONS, telemetry.instruments, retry_on=(LLMTransientError,))


def retries_counted(telemetry: Telemetry, operation: str) -> float:
    series = telemetry.reader.snapshot().series("llm_obs.retry.attempts")
    return sum(v for attrs, v in series.items() if dict(attrs).get("llm_obs.operation") == operation)


async def test_success_passes_through(resilience: Resilience) -> None:
    provider = Provider()
    assert await resilience.call("summarize", provider) == "done"
    assert provider.calls == 1
    assert resilience.open_breakers() == []


async def test_failing_call_opens_both_breakers_and_stops_retrying(resilience: Resilience,
                                                                   telemetry: Telemetry) -> None:
    provider = Provider(LLMTransientError("vendor down"))
    with pytest.raises((CircuitOpenError, LLMTransientError)):
        await resilience.call("summarize", provider)
    assert provider.calls == 2, "attempts went on after the breaker opened"  # threshold, not max_attempts (5)
    assert sorted(resilience.open_breakers()) == [SERVICE_BREAKER, "summarize"]
    assert resilience.breakers["sentiment"].state == "closed"
    assert retries_counted(telemetry, "summarize") >= 1
    assert retries_counted(telemetry, "summarize") == resilience.retries["summarize"]

    # once open, nothing reaches the provider
    with pytest.raises(CircuitOpenError):
        await resilience.call("summarize", provider)
    assert provider.calls == 2


async def test_open_ai_service_breaker_blocks_every_operation(resilience: Resilience) -> None:
    with pytest.raises((CircuitOpenError, LLMTransientError)):
        await resilience.call("summarize", Provider(LLMTransientError("down")))
    provider = Provider()
    with pytest.raises(CircuitOpenError) as caught:
        await resilience.call("sentiment", provider)
    assert caught.value.name == SERVICE_BREAKER
    assert provider.calls == 0
    sentiment = resilience.breakers["sentiment"]
    assert sentiment.counts["calls"] == 0  # the refused call is not counted against the operation
    assert sentiment.state == "closed"


async def test_retry_counter_increases_in_the_snapshot(telemetry: Telemetry) -> None:
    policy = replace(FAST, failure_threshold=100, max_attempts=3)
    resilience = Resilience(policy, OPERATIONS, telemetry.instruments, retry_on=(LLMTransientError,))
    before = retries_counted(telemetry, "sentiment")
    with pytest.raises(LLMTransientError):
        await resilience.call("sentiment", Provider(LLMTransientError("flaky")))
    assert retries_counted(telemetry, "sentiment") - before == 2  # three attempts, two retries
    assert resilience.retries["sentiment"] == 2


async def test_the_attempt_refused_by_an_open_breaker_is_no_retry(
        resilience: Resilience, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(manager_module, "retry_async", functools.partial(retry_async, sleep=sleep))
    provider = Provider(LLMTransientError("vendor down"))
    with pytest.raises((CircuitOpenError, LLMTransientError)):
        await resilience.call("summarize", provider)
    assert provider.calls == 2
    assert retries_counted(telemetry, "summarize") == provider.calls - 1
    assert len(sleeps) == provider.calls - 1


async def test_errors_not_retried_give_no_breaker_verdict(resilience: Resilience) -> None:
    provider = Provider(LLMPermanentError("bad request"))
    for _ in range(5):
        with pytest.raises(LLMPermanentError):
            await resilience.call("summarize", provider)
    assert provider.calls == 5
    assert resilience.open_breakers() == []
    assert resilience.retries["summarize"] == 0


async def test_transitions_and_states_are_measured(resilience: Resilience, telemetry: Telemetry) -> None:
    with pytest.raises((CircuitOpenError, LLMTransientError)):
        await resilience.call("summarize", Provider(LLMTransientError("down")))
    snap = telemetry.reader.snapshot()
    states = {dict(a)["llm_obs.circuit_breaker.name"]: v for a,
              v in snap.series("llm_obs.circuit_breaker.state").items()}
    assert states == {SERVICE_BREAKER: 2, "summarize": 2, "sentiment": 0}
    opened = {dict(a)["llm_obs.circuit_breaker.name"] for a,
              v in snap.series("llm_obs.circuit_breaker.transitions").items()
              if dict(a)["llm_obs.circuit_breaker.to"] == "open" and v == 1}
    assert opened == {SERVICE_BREAKER, "summarize"}



async def test_resetting_ai_service_closes_the_breakers_its_outage_opened(resilience: Resilience,
                                                                         telemetry: Telemetry) -> None:
    with pytest.raises((CircuitOpenError, LLMTransientError)):
        await resilience.call("summarize", Provider(LLMTransientError("down")))
    assert resilience.reset(SERVICE_BREAKER) == ("closed", ["summarize"])
    states = {dict(a)["llm_obs.circuit_breaker.name"]: v
              for a, v in telemetry.reader.snapshot().series("llm_obs.circuit_breaker.state").items()}
    assert states == {SERVICE_BREAKER: 0, "summarize": 0, "sentiment": 0}
    provider = Provider()
    assert await resilience.call("summarize", provider) == "done"


async def test_resetting_an_operation_breaker_leaves_ai_service_alone(resilience: Resilience) -> None:
    with pytest.raises((CircuitOpenError, LLMTransientError)):
        await resilience.call("summarize", Provider(LLMTransientError("down")))
    assert resilience.reset("summarize") == ("closed", [])
    assert resilience.open_breakers() == [SERVICE_BREAKER]


async def test_apply_reconfigures_every_breaker_and_logs(resilience: Resilience,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    production = PRESETS["production"]
    with caplog.at_level(logging.INFO, logger="app.resilience.manager"):
        change = resilience.apply(production, source="test")
    for breaker in resilience.breakers.values():
        assert (breaker.failure_threshold, breaker.recovery_timeout_s) == (10, 120.0)
    assert resilience.policy is production
    assert change["preset_before"] == "fast" and change["preset_after"] == "production"
    assert change["before"]["failure_threshold"] == 2 and change["after"]["failure_threshold"] == 10
    assert change["source"] == "test"
    assert resilience.changes[-1] == change
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "fast" in logged and "production" in logged


async def test_apply_is_live_for_breakers_already_counting(resilience: Resilience) -> None:
    resilience.apply(replace(FAST, name="patient", failure_threshold=50, max_attempts=1))
    provider = Provider(LLMTransientError("down"))
    for _ in range(3):
        with pytest.raises(LLMTransientError):
            await resilience.call("summarize", provider)
    assert resilience.open_breakers() == []
    resilience.apply(replace(FAST, name="strict", failure_threshold=4, max_attempts=1))
    with pytest.raises(LLMTransientError):
        await resilience.call("summarize", provider)  # the fourth consecutive failure
    assert SERVICE_BREAKER in resilience.open_breakers()


def test_change_log_is_bounded(resilience: Resilience) -> None:
    for i in range(150):
        resilience.apply(replace(FAST, name=f"p{i}"))
    assert len(resilience.changes) == 100
    assert resilience.changes[-1]["preset_after"] == "p149"
