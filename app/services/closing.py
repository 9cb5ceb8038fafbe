"""Closing a stream (an async generator) however its consumer stopped.

A consumer cancelled mid-stream (a client that went away: Starlette cancels the response's task) is
cancelled again at each ``await`` of its cleanup under anyio, so an unshielded ``aclose`` would stop
at its first await and leave the provider's call open: its span, its connection, its limiter slot.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio


async def aclose_shielded(stream: AsyncGenerator[Any, None]) -> None:
    with anyio.CancelScope(shield=True):
        await stream.aclose()
