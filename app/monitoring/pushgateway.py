"""Push the in-process exposition to a Prometheus Pushgateway (``ENABLE_EXTERNAL_MONITORING=true`` and
``PROMETHEUS_GATEWAY_URL``), for deployments that Prometheus cannot scrape.

One group per process (``job`` = service name, ``instance`` = ``service.instance.id``), replaced on
each push (PUT), so several workers never overwrite each other. Off the request path; a gateway that
is down is logged once (``ExportStatus``) and retried on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from urllib.parse import quote

import httpx

from instrumentation.export import ExportStatus

_log = logging.getLogger(__name__)


class PushgatewayPusher:
    def __init__(self, gateway_url: str, job: str, instance: str, render: Callable[[], str],
                 interval_s: float, timeout_s: float = 5.0) -> None:
        self.url = f"{gateway_url.rstrip('/')}/metrics/job/{quote(job, safe='')}/instance/{quote(instance, safe='')}"
        self.status = ExportStatus("pushgateway", gateway_url)
        self._render = render
        self._interval_s = interval_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._task: asyncio.Task[None] | None = None

    async def push_once(self) -> bool:
        body = self._render()
        try:
            response = await self._client.put(
                self.url, content=body.encode(), headers={"Content-Type": "text/plain; version=0.0.4"})
        except httpx.HTTPError as exc:
            self.status.outcome(False, 0, f"{type(exc).__name__}: {exc}")
            return False
        ok = response.status_code < 300
        self.status.outcome(ok, body.count("\n"), None if ok else f"HTTP {response.status_code}: {response.text[:200]}")
        return ok

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pushgateway")

    async def _run(self) -> None:
        while True:
            await self.push_once()
            await asyncio.sleep(self._interval_s)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # the last figures reach the gateway on shutdown; a down gateway costs one timeout, once
        await self.push_once()
        await self._client.aclose()
