"""Retry with exponential backoff and full jitter (the AWS architecture blog's recommendation)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delay(retry: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before retry number ``retry`` (1-based): uniform in [0, min(max, base * 2**(retry-1))]."""
    return float(rand()) * min(max_s, base_s * 2.0 ** (retry - 1))


async def retry_async(fn: Callable[[], Awaitable[T]], *, max_attempts: int, base_delay_s: float,
                      max_delay_s: float, retry_on: tuple[type[BaseException], ...],
                      on_retry: Callable[[int, BaseException], None] | None = None,
                      should_retry: Callable[[BaseException], bool] | None = None,
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    attempt = 1
    while True:
        try:
            return await fn()
        except retry_on as exc:
            if attempt >= max_attempts or (should_retry is not None and not should_retry(exc)):
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            retry_after = getattr(exc, "retry_after", None)
            delay = backoff_delay(attempt, base_delay_s, max_delay_s)
            if isinstance(retry_after, int | float):  # a server that says when is believed, within bounds
                delay = min(max_delay_s, max(delay, float(retry_after)))
            await sleep(delay)
            attempt += 1
