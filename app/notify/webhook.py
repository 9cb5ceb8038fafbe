"""Webhook delivery: a bounded queue drained by one task, retried with exponential backoff.

Nothing here runs on the request path or on the history thread: ``submit`` only hands the event to
the event loop, and a full queue drops the notification and counts it (``queue.overflow``) rather
than growing without bound while a receiver is down. Connection errors, timeouts, 408, 429 and 5xx
are retried; any other 4xx is the receiver refusing the notification, which a retry will not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from app.monitoring.reports import iso
from app.notify.signing import HEADER, sign
from instrumentation.redact import redact_text, redact_url

_log = logging.getLogger(__name__)
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Delivery:
    event: str
    delivery_id: str
    delivered: bool
    attempts: int
    status_code: int | None  # the receiver's last answer; None when it never answered
    latency_ms: float  # of the last attempt
    total_ms: float  # all attempts and the waits between them
    error: str | None
    response: str  # the start of the receiver's last answer
    at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def retryable(status_code: int | None) -> bool:
    return status_code is None or status_code >= 500 or status_code in RETRYABLE_4XX


class WebhookNotifier:
    def __init__(self, url: str, secret: str, *, timeout_s: float = 5.0, max_attempts: int = 5,
                 backoff_s: float = 1.0, max_backoff_s: float = 60.0, queue_size: int = 100,
                 silenced: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.url = url
        self._secret = secret
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._silenced = silenced
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.counts = {"delivered": 0, "failed": 0, "silenced": 0, "retries": 0, "overflow": 0, "not_running": 0}
        self.in_flight: dict[str, Any] | None = None
        self.last: Delivery | None = None
        self.last_failure: Delivery | None = None

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def receiver(self) -> str:
        """Where notifications go, as answers show it: webhook paths often carry a token."""
        return redact_url(self.url, hide_path=True)

    # -- queueing
    def submit(self, event: dict[str, Any]) -> None:
        """Queue a notification from any thread; never waits."""
        if not self.configured:
            return
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._enqueue, event)
                return
            except RuntimeError:  # the loop closed under us at shutdown
                pass
        self.counts["not_running"] += 1
        _log.warning("webhook %s not sent: the notifier is not running", event.get("event"))

    def _enqueue(self, event: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.counts["overflow"] += 1
            if self.counts["overflow"] == 1 or self.counts["overflow"] % 100 == 0:
                _log.warning("webhook queue full (%d): %d notifications dropped so far",
                             self._queue.maxsize, self.counts["overflow"])

    async def start(self) -> None:
        if self.configured:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._work(), name="webhook-notifier")

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                if self._silenced is not None and await self._silenced():
                    self.counts["silenced"] += 1
                    continue
                result = await self.deliver(event)
                self.counts["delivered" if result.delivered else "failed"] += 1
                if not result.delivered:
                    _log.warning("webhook %s not delivered after %d attempts: %s", result.event, result.attempts,
                                 result.error)
            except Exception:  # one bad notification must not stop the others
                _log.exception("webhook delivery failed unexpectedly")
            finally:
                self._queue.task_done()

    # -- delivering
    def backoff(self, attempt: int) -> float:
        """Doubling waits, capped, with jitter so that workers do not retry in lockstep."""
        delay = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)

    async def deliver(self, event: dict[str, Any], max_attempts: int | None = None) -> Delivery:
        attempts = max_attempts or self.max_attempts
        body = json.dumps(event, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "llm-text-service-webhook/1",
                   "X-Webhook-Event": str(event.get("event", "")),
                   "X-Webhook-Delivery": str(event.get("delivery_id", ""))}
        if self._secret:
            headers[HEADER] = sign(self._secret, body)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        text, latency_ms, attempt = "", 0.0, 0
        for attempt in range(1, attempts + 1):
            headers["X-Webhook-Attempt"] = str(attempt)
            sent = time.perf_counter()
            try:
                response = await self.client.post(self.url, content=body, headers=headers)
                status, text, error = response.status_code, redact_text(response.text[:500]), None
            except httpx.HTTPError as exc:
                status, text, error = None, "", redact_text(f"{type(exc).__name__}: {exc}") if str(exc) \
                    else type(exc).__name__
            latency_ms = round((time.perf_counter() - sent) * 1000, 3)
            if status is not None and 200 <= status < 300:
                break
            if status is not None:
                error = f"the receiver answered HTTP {status}"
            self.in_flight = {"event": event.get("event"), "attempts": attempt, "last_error": error}
            if attempt == attempts or not retryable(status):
                break
            self.counts["retries"] += 1
            await asyncio.sleep(self.backoff(attempt))
        self.in_flight = None
        delivered = status is not None and 200 <= status < 300
        result = Delivery(str(event.get("event")), str(event.get("delivery_id")), delivered, attempt, status,
                          latency_ms, round((time.perf_counter() - started) * 1000, 3),
                          None if delivered else error, text, iso(time.time()))
        self.last = result
        if not delivered:
            self.last_failure = result
        return result

    def status(self) -> dict[str, Any]:
        return {
            "configured": self.configured, "receiver": self.receiver, "signed": bool(self._secret),
            "running": self._task is not None and not self._task.done(),
            "queue": {"size": self._queue.qsize(), "capacity": self._queue.maxsize,
                      "overflow": self.counts["overflow"]},
            **{k: v for k, v in self.counts.items() if k != "overflow"},
            "max_attempts": self.max_attempts, "backoff_seconds": self.backoff_s, "timeout_seconds": self.timeout_s,
            "in_flight": self.in_flight,
            "last_delivery": self.last.as_dict() if self.last else None,
            "last_failure": self.last_failure.as_dict() if self.last_failure else None,
        }

    async def aclose(self) -> None:
        self._loop = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue.qsize():
            _log.warning("%d webhook notifications not sent before shutdown", self._queue.qsize())
        await self.client.aclose()
