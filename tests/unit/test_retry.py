"""Retry with exponential backoff and full jitter, with an injected sleep."""

from __future__ import annotations

import pytest

from app.resilience.retry import backoff_delay, retry_async


class Transient(Exception):
    pass


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__("429")
        self.retry_after = retry_after


class Flaky:
    """Fails ``failures`` times with ``error()``, then answers."""

    def __init__(self, failures: int, error: type[Exception] | None = None, exc: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or Transient
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc if self.exc is not None else self.error(f"failure {self.calls}")
        return "ok"


class Sleeps(list[float]):
    async def __call__(self, delay: float) -> None:
        self.append(delay)


async def test_retries_until_success() -> None:
    sleeps, fn = Sleeps(), Flaky(2)
    seen: list[int] = []
    result = await retry_async(fn, max_attempts=5, base_delay_s=0.1, max_delay_s=1.0, retry_on=(Transient,),
                               on_retry=lambda attempt, _exc: seen.append(attempt), sleep=sleeps)
    assert result == "ok"
    assert fn.calls == 3
    assert len(sleeps) == 2
    assert seen == [1, 2]


async def test_stops_at_max_attempts_and_raises_the_last_error() -> None:
    sleeps, fn = Sleeps(), Flaky(100)
    with pytest.raises(Transient, match="failure 4"):
        await retry_async(fn, max_attempts=4, base_delay_s=0.1, max_delay_s=1.0, retry_on=(Transient,),
                          sleep=sleeps)
    assert fn.calls == 4
    assert len(sleeps) == 3


async def test_one_attempt_means_no_retry() -> None:
    sleeps, fn = Sleeps(), Flaky(1)
    with pytest.raises(Transient):
        await retry_async(fn, max_attempts=1, base_delay_s=0.1, max_delay_s=1.0, retry_on=(Transient,), sleep=sleeps)
    assert (fn.calls, sleeps) == (1, [])


async def test_other_exceptions_are_not_retried() -> None:
    sleeps, fn = Sleeps(), Flaky(3, error=ValueError)
    with pytest.raises(ValueError):
        await retry_async(fn, max_attempts=5, base_delay_s=0.1, max_delay_s=1.0, retry_on=(Transient,), sleep=sleeps)
    assert fn.calls == 1
    assert sleeps == []


def test_backoff_ceiling_doubles_and_is_capped() -> None:
    assert [backoff_delay(n, 1.0, 10.0, rand=lambda: 1.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_delay(3, 1.0, 10.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(2, 0.5, 10.0, rand=lambda: 0.5) == 0.5


async def test_delays_grow_and_stay_within_max() -> None:
    per_retry: dict[int, list[float]] = {}
    for _ in range(300):
        sleeps = Sleeps()
        with pytest.raises(Transient):
            await retry_async(Flaky(100), max_attempts=7, base_delay_s=0.5, max_delay_s=4.0, retry_on=(Transient,),
                              sleep=sleeps)
        for index, delay in enumerate(sleeps, start=1):
            per_retry.setdefault(index, []).append(delay)
    for index, delays in per_retry.items():
        ceiling = min(4.0, 0.5 * 2 ** (index - 1))
        assert all(0.0 <= d <= ceiling for d in delays), index
    means = [sum(d) / len(d) for _i, d in sorted(per_retry.items())]
    # ceilings 0.5, 1, 2, 4, 4, 4: the average delay grows until it reaches the cap
    assert means[0] < means[1] < means[2] < means[3]
    assert max(max(d) for d in per_retry.values()) <= 4.0
    assert means[3] > 1.5  # jittered, not collapsed to zero


async def test_honours_retry_after_from_the_server() -> None:
    sleeps, fn = Sleeps(), Flaky(1, exc=RateLimited(7))
    assert await retry_async(fn, max_attempts=3, base_delay_s=0.01, max_delay_s=30.0, retry_on=(RateLimited,),
                             sleep=sleeps) == "ok"
    assert sleeps == [7.0]


async def test_retry_after_is_capped_by_max_delay() -> None:
    sleeps, fn = Sleeps(), Flaky(1, exc=RateLimited(3600))
    await retry_async(fn, max_attempts=3, base_delay_s=0.01, max_delay_s=30.0, retry_on=(RateLimited,), sleep=sleeps)
    assert sleeps == [30.0]
