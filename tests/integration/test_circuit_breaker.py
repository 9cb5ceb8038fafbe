"""Breakers that really open: a failing OpenAI-compatible server drives them open, requests then fail
fast without calling it, cached answers are still served, and a reset closes them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.integration.conftest import llm_client

PROCESS = "/v1/text_processing/process"
TEXT = "The payment service failed twice this morning. Engineers restarted it and traffic recovered."


def ask(client: Any, n: int) -> Any:
    return client.post(PROCESS, json={"text": f"{TEXT} Incident {n}.", "operation": "summarize"})


def test_breaker_opens_fails_fast_serves_cache_and_resets(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    assert ask(client, 0).status_code == 200  # cached while the vendor is healthy

    fake.mode = "error500"
    first = ask(client, 1)  # development preset: 2 attempts, threshold 3
    assert first.status_code == 502 and "failed after retries" in first.json()["detail"]
    second = ask(client, 2)  # the third consecutive failure opens the breakers
    assert second.status_code in (502, 503)
    calls = fake.calls

    fast = ask(client, 3)
    assert fast.status_code == 503
    assert fast.json()["error"] == "circuit_open"
    assert int(fast.headers["Retry-After"]) >= 1
    assert fake.calls == calls  # failed fast: the vendor was not called

    cached = ask(client, 0)
    assert cached.status_code == 200 and cached.json()["cache_hit"] is True

    breakers = client.get("/internal/resilience/circuit-breakers").json()
    assert breakers["ai_service"]["state"] == "open"
    assert breakers["summarize"]["state"] == "open"
    assert breakers["ai_service"]["metrics"]["failures"] >= 3
    alerts = client.get("/internal/monitoring/alerts").json()
    assert alerts["by_severity"]["critical"] >= 1
    assert any(a["name"] == "CircuitBreakerOpen" for a in alerts["alerts"])
    assert client.get("/internal/monitoring/health").json()["overall_status"] == "unhealthy"

    fake.mode = "ok"
    reset = client.post("/internal/resilience/circuit-breakers/ai_service/reset").json()
    assert reset["new_state"] == "closed" and "summarize" in reset["also_reset"]
    assert ask(client, 3).status_code == 200
    assert client.get("/internal/resilience/circuit-breakers").json()["summarize"]["state"] == "closed"
    assert client.get("/internal/monitoring/alerts").json()["by_severity"]["critical"] == 0


def test_unknown_breaker_is_404_listing_the_names(client_for: Any, fake: FakeOpenAI) -> None:
    response = llm_client(client_for, fake).post("/internal/resilience/circuit-breakers/nope/reset")
    assert response.status_code == 404
    assert "ai_service" in response.json()["detail"] and "summarize" in response.json()["detail"]


def test_breaker_half_opens_after_recovery_timeout_and_closes_on_success(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, resilience_recovery_timeout_seconds=0.5)
    fake.mode = "error500"
    for n in range(3):
        ask(client, 10 + n)
    assert ask(client, 20).status_code == 503
    fake.mode = "ok"
    time.sleep(0.6)
    assert client.get("/internal/resilience/circuit-breakers").json()["ai_service"]["state"] == "half_open"
    assert ask(client, 21).status_code == 200
    assert client.get("/internal/resilience/circuit-breakers").json()["ai_service"]["state"] == "closed"


@pytest.mark.parametrize(("preset", "attempts"), [("development", 2), ("simple", 3), ("production", 5)])
def test_resilience_preset_changes_the_attempts(client_for: Any, fake: FakeOpenAI, preset: str,
                                                attempts: int) -> None:
    client = llm_client(client_for, fake, resilience_preset=preset)
    fake.mode = "error500"
    assert ask(client, 30).status_code == 502
    assert fake.calls == attempts
    snapshot = client.get("/internal/monitoring/metrics", params={"format": "prometheus"}).text
    assert f'llm_obs_retry_attempts_total{{llm_obs_operation="summarize"}} {attempts - 1}' in snapshot


def test_transient_failure_is_retried_and_answered(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    fake.fail_next(1, "error500")
    response = ask(client, 40)
    assert response.status_code == 200
    assert fake.calls == 2
    assert client.get("/internal/resilience/circuit-breakers").json()["summarize"]["state"] == "closed"


def test_slow_vendor_times_out_into_a_clear_error(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, llm_timeout_seconds=0.2)
    fake.mode, fake.delay_s = "slow", 1.0
    response = ask(client, 50)
    assert response.status_code == 502
    assert "AI provider failed" in response.json()["detail"]
