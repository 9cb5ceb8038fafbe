"""LLM_MAX_CONCURRENCY as a limit: every LLM call holds one slot while it runs, waits at most
LLM_QUEUE_TIMEOUT_SECONDS for one, and past that is refused with ``LLMBusyError`` without being made.

The limit is per process (each uvicorn worker has its own). What the limiter sees is measured, not kept:
calls holding a slot (``llm_obs.llm.concurrency.active``) and waiting for one (``llm_obs.llm.queue.waiting``), the
calls in flight as each is admitted (the highest bucket of a window is its peak) and how long the calls that
found no free slot waited, by outcome.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.services.llm.base import LLMBusyError
from instrumentation.instruments import Instruments

_ADMITTED = {"llm_obs.llm.queue.outcome": "admitted"}
_REJECTED = {"llm_obs.llm.queue.outcome": "rejected"}
_HOLD_WEIGHT = 0.2  # of the newest call in the running average of how long a call holds its slot
MAX_RETRY_AFTER_S = 600


class ConcurrencyLimiter:
    def __init__(self, limit: int, queue_timeout_s: float, instruments: Instruments) -> None:
        self.limit = limit
        self.queue_timeout_s = queue_timeout_s
        self._instruments = instruments
        # bound to the event loop on its first use, not here (Python >= 3.10)
        self._slots = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.waiting = 0
        self._hold_s = 1.0  # until a call has finished: what a refusal's Retry-After starts from

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body; raise ``LLMBusyError`` when none frees within the queue timeout."""
        if self._slots.locked():  # every slot taken, or callers queued ahead of this one
            await self._wait()
        else:
            await self._slots.acquire()  # returns at once
        self.in_flight += 1
        self._instruments.llm_active.add(1)
        self._instruments.llm_at_admission.record(self.in_flight)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.in_flight -= 1
            self._instruments.llm_active.add(-1)
            self._slots.release()
            self._hold_s += _HOLD_WEIGHT * (time.perf_counter() - start - self._hold_s)

    def retry_after_s(self) -> int:
        """When a refused caller may find a slot: the average hold, once per round of the limit queued ahead."""
        rounds = 1 + self.waiting / self.limit
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(self._hold_s * rounds)))

    async def _wait(self) -> None:
        start = time.perf_counter()
        self.waiting += 1
        self._instruments.llm_queued.add(1)
        try:
            # wait_for returns the slot when the acquire won a race with the timeout: none is lost
            await asyncio.wait_for(self._slots.acquire(), self.queue_timeout_s)
        except TimeoutError:
            self._instruments.llm_queue_wait.record(time.perf_counter() - start, _REJECTED)
            raise LLMBusyError(self.limit, self.queue_timeout_s, self.retry_after_s()) from None
        finally:
            self.waiting -= 1
            self._instruments.llm_queued.add(-1)
        self._instruments.llm_queue_wait.record(time.perf_counter() - start, _ADMITTED)
