"""Real alerts through the app: open the ai_service breaker (CircuitBreakerOpen fires), reset it (resolves);
and alerts flapping under concurrent evaluations."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient

from app.monitoring.alerts import AlertBook
from app.monitoring.measurements import measure
from app.monitoring.windows import Window
from instrumentation.snapshot import Snapshot

BREAKER = "ai_service"


def open_breaker(client: TestClient) -> None:
    """Failures open the breaker; evaluating alerts (GET /alerts) fires CircuitBreakerOpen."""
    breaker = client.app.state.services.resilience.breakers[BREAKER]  # type: ignore[attr-defined]
    while breaker.state != "open":
        breaker.record_failure()
    client.get("/internal/monitoring/alerts")


def close_breaker(client: TestClient) -> None:
    client.post(f"/internal/resilience/circuit-breakers/{BREAKER}/reset")
    client.get("/internal/monitoring/alerts")


def webhook_status(client: TestClient) -> dict[str, Any]:
    status: dict[str, Any] = client.get("/internal/monitoring/webhook").json()
    return status


# -- alerts that flap while several threads evaluate at once (the history thread and request handlers)
QUIET = measure(Window(Snapshot(0.0), Snapshot(300.0)))  # nothing happened: every KPI healthy
FLAPPING = replace(QUIET, requests=50, errors=5, error_rate=10.0, breaker_states={"ai_service": "open"})  # 3 alerts
AlertKey = tuple[str, float]  # name and first_seen: one firing of one alert


def flap_concurrently(book: AlertBook, threads: int = 8, evaluations: int = 100,
                      start: float = 1_000_000.0) -> None:
    """Each thread evaluates FLAPPING and QUIET in turn (half the threads out of phase), all at once.

    Every evaluation gets its own time, so each firing of an alert is a distinct ``first_seen``."""
    clock = itertools.count()
    barrier = threading.Barrier(threads)

    def run(phase: int) -> None:
        barrier.wait()
        for i in range(evaluations):
            book.evaluate(FLAPPING if (i + phase) % 2 == 0 else QUIET, now=start + next(clock) / 1000)

    workers = [threading.Thread(target=run, args=(n % 2,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def engine_state(book: AlertBook) -> dict[AlertKey, str]:
    """What the engine ended with: each firing of each alert, firing or resolved."""
    return {(a.name, a.first_seen): a.status for a in [*book.resolved, *book.active.values()]}
