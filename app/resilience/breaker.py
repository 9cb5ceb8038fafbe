"""A circuit breaker: opens after ``failure_threshold`` consecutive failures, lets one trial call
through after ``recovery_timeout_s`` (half-open), and closes when that call succeeds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

State = Literal["closed", "open", "half_open"]
TransitionListener = Callable[[str, State, State], None]


class CircuitOpenError(Exception):
    """The breaker is open: the call was not attempted."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit breaker '{name}' is open; retry in {retry_after_s:.0f}s")
        self.name = name
        self.retry_after_s = retry_after_s


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int, recovery_timeout_s: float,
                 on_transition: TransitionListener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout_s = recovery_timeout_s
        self._on_transition = on_transition
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self.counts = {"calls": 0, "successes": 0, "failures": 0, "rejected": 0,
                       "opens": 0, "half_opens": 0, "closes": 0}
        self.last_failure: float | None = None
        self.last_success: float | None = None
        self.last_state_change: float | None = None

    @property
    def state(self) -> State:
        with self._lock:
            self._maybe_half_open()
            return self._state

    def before_call(self) -> None:
        """Raise ``CircuitOpenError`` if the call must not be attempted."""
        with self._lock:
            self._maybe_half_open()
            if self._state == "open" or (self._state == "half_open" and self._trial_in_flight):
                self.counts["rejected"] += 1
                raise CircuitOpenError(self.name, self._retry_after())
            if self._state == "half_open":
                self._trial_in_flight = True
            self.counts["calls"] += 1

    def release(self) -> None:
        """Undo ``before_call`` for a call that was not made after all (another breaker refused it)."""
        with self._lock:
            self.counts["calls"] -= 1
            self._trial_in_flight = False

    def record_success(self) -> None:
        with self._lock:
            self.counts["successes"] += 1
            self.last_success = time.time()
            self._consecutive_failures = 0
            self._trial_in_flight = False
            if self._state != "closed":
                self._move("closed")

    def record_failure(self) -> None:
        with self._lock:
            self.counts["failures"] += 1
            self.last_failure = time.time()
            self._consecutive_failures += 1
            self._trial_in_flight = False
            if self._state == "half_open" or (
                    self._state == "closed" and self._consecutive_failures >= self.failure_threshold):
                self._opened_at = self._clock()
                self._move("open")

    def reset(self) -> State:
        with self._lock:
            self._consecutive_failures = 0
            self._trial_in_flight = False
            if self._state != "closed":
                self._move("closed")
            return self._state

    def reconfigure(self, failure_threshold: int, recovery_timeout_s: float) -> None:
        with self._lock:
            self.failure_threshold = failure_threshold
            self.recovery_timeout_s = recovery_timeout_s

    def _maybe_half_open(self) -> None:
        if self._state == "open" and self._clock() - self._opened_at >= self.recovery_timeout_s:
            self._move("half_open")

    def _retry_after(self) -> float:
        if self._state == "open":
            return max(0.0, self.recovery_timeout_s - (self._clock() - self._opened_at))
        return 1.0  # half-open with the trial call still running

    def _move(self, new: State) -> None:
        old, self._state = self._state, new
        self.last_state_change = time.time()
        self.counts[{"open": "opens", "half_open": "half_opens", "closed": "closes"}[new]] += 1
        if self._on_transition is not None:
            self._on_transition(self.name, old, new)

    def as_dict(self) -> dict[str, Any]:
        state = self.state
        with self._lock:
            return {
                "name": self.name, "state": state, "failure_threshold": self.failure_threshold,
                "recovery_timeout": self.recovery_timeout_s,
                "consecutive_failures": self._consecutive_failures,
                "retry_after_seconds": round(self._retry_after(), 3) if state != "closed" else 0.0,
                "metrics": {**self.counts, "last_failure": self.last_failure,
                            "last_success": self.last_success, "last_state_change": self.last_state_change},
            }
