"""One breaker per operation plus ``ai_service`` for the provider as a whole, retries around both.

Every attempt passes both breakers, so a vendor that is down opens ``ai_service`` (the breaker the
guide resets) whichever operation is called, and one operation that keeps failing opens its own.
Breakers are checked before each attempt: once one opens, the remaining retries are not made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from opentelemetry.metrics import Observation

from app.resilience.breaker import CircuitBreaker, CircuitOpenError, State
from app.resilience.presets import PRESETS, ResiliencePolicy, config_of, overrides_of
from app.resilience.retry import retry_async
from instrumentation.instruments import BREAKER_STATE, BREAKER_STATE_VALUES, Instruments

_log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE_BREAKER = "ai_service"


class Verdict:
    """The breakers' judgement of one admitted call, given once."""

    def __init__(self, breakers: tuple[CircuitBreaker, ...], failures: tuple[type[BaseException], ...]) -> None:
        self._breakers: tuple[CircuitBreaker, ...] = breakers
        self._failures = failures

    def judge(self, outcome: BaseException | None) -> None:
        """A success (``None``), a failure of the service (an exception retries are for), or no verdict
        either way (any other: a bad request, a cancelled task, a client that went away)."""
        breakers, self._breakers = self._breakers, ()
        for breaker in breakers:
            if outcome is None:
                breaker.record_success()
            elif isinstance(outcome, self._failures):
                breaker.record_failure()
            else:
                breaker.release()


class Resilience:
    def __init__(self, policy: ResiliencePolicy, operations: Iterable[str], instruments: Instruments,
                 retry_on: tuple[type[BaseException], ...]) -> None:
        self.policy = policy
        self.overrides = overrides_of(policy)  # kept across preset switches, as RESILIENCE_* env pins them
        self.started_at = self.active_since = time.time()  # the live policy is in force since then
        self._instruments = instruments
        self._retry_on = retry_on
        self.breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(name, policy.failure_threshold, policy.recovery_timeout_s, self._transition)
            for name in (SERVICE_BREAKER, *operations)
        }
        self.retries: dict[str, int] = dict.fromkeys(operations, 0)
        self.changes: list[dict[str, Any]] = []
        self._retry_attrs = {op: {"llm_obs.operation": op} for op in operations}
        instruments.observe(BREAKER_STATE, self._observe_states)

    async def call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        result, verdict = await self.open(operation, fn)
        verdict.judge(None)
        return result

    async def open(self, operation: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, Verdict]:
        """``call`` for a call whose outcome is known only later (a stream, opened by ``fn``): the
        opening is retried as a call is, and the breakers' verdict on it waits for ``Verdict.judge``,
        given when the stream ends. Meanwhile a half-open breaker's trial call is still in flight."""
        own, service = self.breakers[operation], self.breakers[SERVICE_BREAKER]

        async def attempt() -> tuple[T, Verdict]:
            own.before_call()
            try:
                service.before_call()
            except CircuitOpenError:
                own.release()
                raise
            verdict = Verdict((own, service), self._retry_on)
            try:
                return await fn(), verdict
            except BaseException as exc:
                verdict.judge(exc)
                raise

        def on_retry(_attempt: int, _exc: BaseException) -> None:
            self.retries[operation] += 1
            self._instruments.retry_attempts.add(1, self._retry_attrs[operation])

        def breakers_allow(_exc: BaseException) -> bool:
            # a failure that just opened a breaker ends the retries: no wait for a refused attempt
            return own.state != "open" and service.state != "open"

        policy = self.policy
        return await retry_async(attempt, max_attempts=policy.max_attempts, base_delay_s=policy.base_delay_s,
                                 max_delay_s=policy.max_delay_s, retry_on=self._retry_on, on_retry=on_retry,
                                 should_retry=breakers_allow)

    def apply(self, policy: ResiliencePolicy, source: str = "api",
              overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Switch the live policy; every breaker takes the new threshold and timeout at once.

        The change records the period the old policy was in force (``active_since`` .. ``timestamp``),
        which is what preset trends are measured over, and the config that undoes it.
        """
        before, before_config = self.policy, config_of(self.policy, self.overrides)
        now = time.time()
        self.policy = policy
        self.overrides = overrides_of(policy) if overrides is None else dict(overrides)
        for breaker in self.breakers.values():
            breaker.reconfigure(policy.failure_threshold, policy.recovery_timeout_s)
        change = {"timestamp": now, "source": source, "preset_before": before.name,
                  "preset_after": policy.name, "before": before.as_dict(), "after": policy.as_dict(),
                  "active_since": self.active_since, "undo": before_config,
                  "config": config_of(policy, self.overrides)}
        self.active_since = now
        self.changes.append(change)
        del self.changes[:-100]  # bounded: the last hundred changes
        _log.info("resilience policy changed from %s to %s by %s", before.name, policy.name, source)
        return change

    def config(self) -> dict[str, Any]:
        """The live policy in the form ``apply`` takes."""
        return config_of(self.policy, self.overrides)

    def reset(self, name: str) -> tuple[State, list[str]]:
        """Close one breaker. Resetting ``ai_service`` says the vendor is back, so the operation
        breakers its outage opened are closed with it; they are returned as the second item."""
        cascaded: list[str] = []
        if name == SERVICE_BREAKER:
            for other, breaker in self.breakers.items():
                if other != name and breaker.state != "closed":
                    breaker.reset()
                    cascaded.append(other)
        return self.breakers[name].reset(), cascaded

    def open_breakers(self) -> list[str]:
        return [name for name, b in self.breakers.items() if b.state == "open"]

    def _transition(self, name: str, old: State, new: State) -> None:
        log = _log.warning if new == "open" else _log.info
        log("circuit breaker %s: %s -> %s", name, old, new)
        self._instruments.breaker_transitions.add(
            1, {"llm_obs.circuit_breaker.name": name, "llm_obs.circuit_breaker.from": old,
                "llm_obs.circuit_breaker.to": new})

    def _observe_states(self) -> list[Observation]:
        return [Observation(BREAKER_STATE_VALUES[b.state], {"llm_obs.circuit_breaker.name": name})
                for name, b in self.breakers.items()]

    @staticmethod
    def presets() -> list[str]:
        return list(PRESETS)
