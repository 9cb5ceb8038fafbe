"""``ConcurrencyLimiter``: at most ``limit`` calls hold a slot, the rest wait a bounded time, and what it
saw is in the real instruments (read back through the in-process reader)."""

from __future__ import annotations

import asyncio

import pytest

from app.services.llm.base import LLMBusyError
from app.services.llm.limiter import ConcurrencyLimiter
from instrumentation import Telemetry
from instrumentation.instruments import LLM_ACTIVE, LLM_AT_ADMISSION, LLM_QUEUE_WAIT, LLM_QUEUED

REJECTED = (("llm_obs.llm.queue.outcome", "rejected"),)
ADMITTED = (("llm_obs.llm.queue.outcome", "admitted"),)


async def until(check: object, what: str) -> None:
    """Let the other tasks run until ``check()`` holds (bounded: a test that cannot get there fails)."""
    for _ in range(10_000):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never reached: {what}")


async def test_calls_past_the_limit_wait_their_turn(telemetry: Telemetry) -> None:
    limiter = ConcurrencyLimiter(2, 30.0, telemetry.instruments)
    gate = asyncio.Event()
    seen: list[int] = []

    async def call() -> None:
        async with limiter.slot():
            seen.append(limiter.in_flight)
            await gate.wait()

    tasks = [asyncio.create_task(call()) for _ in range(6)]
    await until(lambda: limiter.in_flight == 2 and limiter.waiting == 4, "2 in flight, 4 waiting")
    snap = telemetry.reader.snapshot()
    assert snap.series(LLM_ACTIVE) == {(): 2} and snap.series(LLM_QUEUED) == {(): 4}
    gate.set()
    await asyncio.gather(*tasks)

    assert max(seen) == 2 and len(seen) == 6
    snap = telemetry.reader.snapshot()
    admitted = snap.histogram_series(LLM_AT_ADMISSION)[()]
    assert admitted.count == 6 and sum(admitted.counts[2:]) == 0  # never a value above 2
    assert set(snap.histogram_series(LLM_QUEUE_WAIT)) == {ADMITTED}
    assert snap.histogram_series(LLM_QUEUE_WAIT)[ADMITTED].count == 4
    assert snap.series(LLM_ACTIVE) == {(): 0} and snap.series(LLM_QUEUED) == {(): 0}


async def test_past_the_wait_a_call_is_refused_and_the_slot_stays_usable(telemetry: Telemetry) -> None:
    limiter = ConcurrencyLimiter(1, 0.01, telemetry.instruments)
    async with limiter.slot():
        with pytest.raises(LLMBusyError) as refused:
            async with limiter.slot():
                raise AssertionError("admitted past the limit")
    assert refused.value.limit == 1 and refused.value.retry_after_s >= 1
    assert "concurrency limit" in str(refused.value)
    async with limiter.slot():  # the holder is gone: admitted at once
        assert limiter.in_flight == 1
    waits = telemetry.reader.snapshot().histogram_series(LLM_QUEUE_WAIT)
    assert waits[REJECTED].count == 1 and ADMITTED not in waits


async def test_no_wait_refuses_at_once_when_full(telemetry: Telemetry) -> None:
    limiter = ConcurrencyLimiter(1, 0.0, telemetry.instruments)
    async with limiter.slot():
        with pytest.raises(LLMBusyError):
            async with limiter.slot():
                pass
    async with limiter.slot():
        pass


async def test_a_cancelled_waiter_takes_no_slot_with_it(telemetry: Telemetry) -> None:
    limiter = ConcurrencyLimiter(1, 30.0, telemetry.instruments)
    gate = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot():
            await gate.wait()

    async def wait() -> None:
        async with limiter.slot():
            raise AssertionError("a cancelled waiter ran")

    holder = asyncio.create_task(hold())
    await until(lambda: limiter.in_flight == 1, "the slot taken")
    waiter = asyncio.create_task(wait())
    await until(lambda: limiter.waiting == 1, "a waiter queued")
    waiter.cancel()  # e.g. its client went away
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    await holder
    assert (limiter.in_flight, limiter.waiting) == (0, 0)
    async with limiter.slot():
        assert limiter.in_flight == 1
    assert telemetry.reader.snapshot().series(LLM_QUEUED) == {(): 0}


async def test_retry_after_grows_with_the_queue(telemetry: Telemetry) -> None:
    limiter = ConcurrencyLimiter(2, 30.0, telemetry.instruments)
    alone = limiter.retry_after_s()
    limiter.waiting = 20  # ten rounds of the limit queued ahead
    assert limiter.retry_after_s() > alone >= 1
