"""Real alerts through the app: open the ai_service breaker (CircuitBreakerOpen fires), reset it (resolves)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

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
