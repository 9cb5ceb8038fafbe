"""Prometheus as the runbook's query backend: the instant queries of a window, run concurrently and
bounded by one timeout, turned into a ``Window`` by ``prometheus_window``.

Every way Prometheus can fail (refused, slow, an error answer, an unreadable one) is one exception,
``PrometheusUnavailable``, whose text says why: the runbook falls back to the in-process view and
shows it. A failure is logged once per outage, not per request; for ``retry_s`` after one the
answers go local without waiting on Prometheus again, so an outage does not slow every call.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from app.monitoring import prometheus_window as pw
from app.monitoring.windows import Window
from instrumentation.redact import redact_text, redact_url

_log = logging.getLogger("app.monitoring")
RETRY_SECONDS = 5.0


class PrometheusUnavailable(Exception):
    """Prometheus did not give the window; the message is the reason an answer shows."""


@dataclass(frozen=True)
class PrometheusWindow:
    window: Window
    instances: tuple[pw.Instance, ...]
    url: str  # without credentials
    job: str
    query_ms: float


class PrometheusSource:
    def __init__(self, url: str, job: str, timeout_s: float, retry_s: float = RETRY_SECONDS,
                 clock: Callable[[], float] = time.time, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # Not instrumented: the runbook's own queries are not the service's traffic.
        self.client = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self._endpoint = f"{url}/api/v1/query"
        self.url = redact_url(url)
        self.job = job
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._clock = clock
        self.down: str | None = None  # why the last attempt failed; None while Prometheus answers
        self._retry_at = 0.0

    async def window(self, seconds: float) -> PrometheusWindow:
        """The window of the last ``seconds`` over every instance of the job; never raises anything else."""
        if self.down is not None and self._clock() < self._retry_at:
            raise PrometheusUnavailable(self.down)
        start = time.perf_counter()
        try:
            found = await asyncio.wait_for(self._fetch(seconds), self.timeout_s)
        except TimeoutError:
            raise self._failed(f"no answer in {self.timeout_s:g} s") from None
        except PrometheusUnavailable as exc:
            raise self._failed(str(exc)) from None
        except Exception as exc:  # a runbook answer must outlive anything Prometheus sends
            raise self._failed(f"{type(exc).__name__}: {exc}", unexpected=exc) from None
        if self.down is not None:
            _log.info("Prometheus at %s answers again: runbook windows from Prometheus", self.url)
            self.down = None
        return PrometheusWindow(found[0], found[1], self.url, self.job, round((time.perf_counter() - start) * 1000, 3))

    async def _fetch(self, seconds: float) -> tuple[Window, tuple[pw.Instance, ...]]:
        now = self._clock()
        queries = pw.queries(self.job, seconds)
        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the other queries
                tasks = {key: group.create_task(self._query(promql, now)) for key, promql in queries.items()}
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        answers = {key: task.result() for key, task in tasks.items()}
        if not answers[pw.LAST_SEEN_BY_INSTANCE]:
            # Nothing of this service yet (just started, not exporting, or another job name): the
            # in-process view knows better than an empty window.
            raise PrometheusUnavailable(f'no series of job="{self.job}" in the last 5 minutes')
        found = pw.instances(answers[pw.REQUESTS_BY_INSTANCE], answers[pw.LAST_SEEN_BY_INSTANCE])
        return pw.window(answers, now, seconds), found

    async def _query(self, promql: str, at: float) -> list[pw.Sample]:
        try:
            response = await self.client.get(self._endpoint, params={"query": promql, "time": f"{at:.3f}"})
        except httpx.TimeoutException:
            raise PrometheusUnavailable(f"no answer in {self.timeout_s:g} s") from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise PrometheusUnavailable(_why(exc)) from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusUnavailable(f"HTTP {response.status_code}, not JSON") from None
        try:
            return pw.vector(body)
        except pw.PrometheusAnswerError as exc:
            raise PrometheusUnavailable(f"HTTP {response.status_code}, {exc}") from None

    def _failed(self, why: str, unexpected: Exception | None = None) -> PrometheusUnavailable:
        reason = f"Prometheus at {self.url}: {redact_text(why)}"
        if self.down is None:  # once per outage
            _log.warning("%s; runbook answers from the in-process view, retrying every %.0f s",
                         reason, self.retry_s, exc_info=unexpected)
        self.down = reason
        self._retry_at = self._clock() + self.retry_s
        return PrometheusUnavailable(reason)

    async def aclose(self) -> None:
        await self.client.aclose()


def _why(exc: BaseException) -> str:
    """What an operator acts on: "connection refused", not httpx's "All connection attempts failed"."""
    root, depth = exc, 0
    while (cause := root.__cause__ or root.__context__) is not None and depth < 8:
        root, depth = cause, depth + 1
    if isinstance(root, ConnectionRefusedError):
        return "connection refused"
    if isinstance(root, socket.gaierror):
        return f"cannot resolve the host ({root.strerror})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
