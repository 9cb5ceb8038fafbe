"""The circuit breaker, on a fake clock: closed -> open -> half-open -> closed (or open again)."""

from __future__ import annotations

import pytest

from app.resilience.breaker import CircuitBreaker, CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def transitions() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def breaker(clock: Clock, transitions: list[tuple[str, str, str]]) -> CircuitBreaker:
    return CircuitBreaker("ai_service", failure_threshold=3, recovery_timeout_s=60.0,
                          on_transition=lambda *t: transitions.append(t), clock=clock)


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker, transitions: list[object]) -> None:
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker, 1)
    assert breaker.state == "open"
    assert transitions == [("ai_service", "closed", "open")]


def test_a_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.before_call()
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state == "closed"


def test_open_rejects_with_retry_after(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 20.0
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.name == "ai_service"
    assert caught.value.retry_after_s == pytest.approx(40.0)
    assert breaker.counts["rejected"] == 1
    assert breaker.as_dict()["retry_after_seconds"] == pytest.approx(40.0)


def test_half_open_after_recovery_timeout_lets_exactly_one_trial_through(
        breaker: CircuitBreaker, clock: Clock, transitions: list[object]) -> None:
    fail(breaker, 3)
    clock.now += 59.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert breaker.state == "half_open"
    breaker.before_call()  # the trial call
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # a second caller while the trial runs
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    assert transitions[-1] == ("ai_service", "open", "half_open")


def test_trial_success_closes(breaker: CircuitBreaker, clock: Clock, transitions: list[object]) -> None:
    fail(breaker, 3)
    clock.now += 60.0
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"
    breaker.before_call()  # calls flow again
    breaker.before_call()
    assert transitions == [("ai_service", "closed", "open"), ("ai_service", "open", "half_open"),
                           ("ai_service", "half_open", "closed")]
    assert breaker.counts["opens"] == breaker.counts["half_opens"] == breaker.counts["closes"] == 1


def test_trial_failure_reopens_for_a_full_timeout(breaker: CircuitBreaker, clock: Clock,
                                                  transitions: list[object]) -> None:
    fail(breaker, 3)
    clock.now += 60.0
    breaker.before_call()
    breaker.record_failure()  # one failure is enough in half-open
    assert breaker.state == "open"
    assert transitions[-1] == ("ai_service", "half_open", "open")
    clock.now += 30.0
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after_s == pytest.approx(30.0)
    clock.now += 30.0
    assert breaker.state == "half_open"


def test_release_frees_the_trial_slot(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now += 60.0
    breaker.before_call()
    breaker.release()  # the trial was not made after all
    breaker.before_call()  # so another caller may make it
    assert breaker.state == "half_open"


def test_reset_closes(breaker: CircuitBreaker, transitions: list[object]) -> None:
    fail(breaker, 3)
    assert breaker.reset() == "closed"
    assert breaker.state == "closed"
    breaker.before_call()
    assert transitions[-1] == ("ai_service", "open", "closed")
    fail(breaker, 2)  # the failure count was reset too
    assert breaker.state == "closed"


def test_reset_of_a_closed_breaker_reports_no_transition(breaker: CircuitBreaker, transitions: list[object]) -> None:
    assert breaker.reset() == "closed"
    assert transitions == []


def test_reconfigure_takes_effect_on_the_next_failure(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 1)
    breaker.reconfigure(failure_threshold=2, recovery_timeout_s=10.0)
    fail(breaker, 1)
    assert breaker.state == "open"
    clock.now += 10.0
    assert breaker.state == "half_open"


def test_as_dict_reports_state_and_counts(breaker: CircuitBreaker) -> None:
    fail(breaker, 3)
    info = breaker.as_dict()
    assert info["state"] == "open"
    assert info["failure_threshold"] == 3
    assert info["recovery_timeout"] == 60.0
    assert info["metrics"]["failures"] == 3
    assert info["metrics"]["opens"] == 1
