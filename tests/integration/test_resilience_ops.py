"""/internal/resilience against an app whose LLM is a real local OpenAI-compatible server: presets
applied at runtime change what the service does, and the reports count what really happened."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.integration.conftest import llm_client

PROCESS = "/v1/text_processing/process"
BASE = "/internal/resilience"
TEXT = "The payment service failed twice this morning. Engineers restarted it and traffic recovered."
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d` sends without -H


def ask(client: Any, n: int, operation: str = "summarize") -> Any:
    return client.post(PROCESS, json={"text": f"{TEXT} Incident {n}.", "operation": operation})


def apply(client: Any, body: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"{BASE}/config/apply-preset", content=raw, headers=FORM)


def attempts_of_one_failing_call(client: Any, fake: FakeOpenAI, n: int) -> int:
    assert ask(client, 1000 + n).status_code == 200  # a success ends any run of consecutive failures
    before = fake.calls
    fake.mode = "error500"
    assert ask(client, n).status_code == 502
    fake.mode = "ok"
    return fake.calls - before


def tick(client: Any) -> None:
    """What the history thread does every METRICS_EXPORT_INTERVAL, done now."""
    client.app.state.services.telemetry.history.record()


def test_apply_preset_changes_live_attempts_is_logged_and_undone(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    assert attempts_of_one_failing_call(client, fake, 1) == 2  # development

    applied = apply(client, {"preset": "conservative"})
    assert applied.status_code == 200, applied.text
    assert applied.json()["policy"]["max_attempts"] == 5
    assert applied.json()["overrides"] == {"base_delay_s": 0.0}  # RESILIENCE_BASE_DELAY_SECONDS stays pinned
    assert attempts_of_one_failing_call(client, fake, 2) == 5
    breakers = client.get(f"{BASE}/circuit-breakers").json()
    assert {b["failure_threshold"] for b in breakers.values()} == {8}

    (change,) = client.get(f"{BASE}/config/recent-changes").json()["changes"]
    assert (change["preset_before"], change["preset_after"]) == ("development", "conservative")
    assert change["changed"]["max_attempts"] == {"before": 2, "after": 5}
    assert change["undo"] == {"preset": "development", "overrides": {"base_delay_s": 0.0}}

    assert apply(client, change["undo"]).status_code == 200
    assert attempts_of_one_failing_call(client, fake, 3) == 2
    changes = client.get(f"{BASE}/config/recent-changes").json()["changes"]
    assert [c["preset_after"] for c in changes] == ["development", "conservative"]  # newest first


def test_export_applies_back_to_the_same_policy(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, resilience_preset="production", resilience_max_attempts=2)
    exported = client.get(f"{BASE}/config/export").json()
    assert exported == {"preset": "production", "overrides": {"max_attempts": 2, "base_delay_s": 0.0}}
    policy = client.get(f"{BASE}/health").json()["policy"]

    assert apply(client, {"preset": "simple", "overrides": {}}).json()["policy"]["max_attempts"] == 3
    restored = apply(client, exported)
    assert restored.status_code == 200 and restored.json()["policy"] == policy
    assert client.get(f"{BASE}/config/export").json() == exported
    assert attempts_of_one_failing_call(client, fake, 4) == 2


@pytest.mark.parametrize(("body", "says"), [
    (b"not json, not a form", "must be JSON"),
    (b"preset=turbo", "valid presets: conservative, development, production, simple"),
    (b'{"preset": "turbo"}', "valid presets: conservative, development, production, simple"),
    (b'{"preset": "simple", "retries": 9}', "unknown field 'retries'"),
    (b'{"preset": "simple", "overrides": {"max_attempts": 99}}', "overrides.max_attempts"),
])
def test_bad_apply_bodies_are_422_and_change_nothing(client_for: Any, fake: FakeOpenAI, body: bytes,
                                                     says: str) -> None:
    client = llm_client(client_for, fake)
    response = apply(client, body)
    assert response.status_code == 422 and says in response.json()["detail"]
    assert client.get(f"{BASE}/config/export").json()["preset"] == "development"
    assert client.get(f"{BASE}/config/recent-changes").json()["total"] == 0


def test_a_form_body_applies_the_preset_it_names(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    response = apply(client, b"preset=conservative")  # what `curl -d preset=conservative` sends
    assert response.status_code == 200, response.text
    assert client.get(f"{BASE}/config/export").json()["preset"] == "conservative"


def test_metrics_count_what_the_vendor_saw(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, resilience_preset="simple")
    assert ask(client, 1).status_code == 200
    fake.fail_next(1, "error500")
    assert ask(client, 2).status_code == 200  # one retry
    fake.mode = "error500"
    assert ask(client, 3, "sentiment").status_code == 502  # three attempts, two retries
    body = client.get(f"{BASE}/metrics").json()

    summarize, sentiment = body["operations"]["summarize"], body["operations"]["sentiment"]
    assert (summarize["total_calls"], summarize["failed_calls"], summarize["retry_attempts"]) == (3, 1, 1)
    assert (sentiment["successful_calls"], sentiment["failed_calls"], sentiment["retry_attempts"]) == (0, 3, 2)
    assert sentiment["failure_rate"] == 100.0 and sentiment["last_failure"]
    summary = body["performance_summary"]
    assert summary["ai_calls"] == fake.calls == 6
    assert (summary["failed_calls"], summary["retries"]) == (4, 3)
    assert summary["success_rate"] == pytest.approx(100 * 2 / 6, abs=0.001)
    assert summary["retries_per_call"] == 0.5
    assert summary["ai_p95_ms"] > 0 and summary["ai_p50_ms"] > 0
    assert body["circuit_breakers"]["ai_service"]["failure_threshold"] == 5
    assert body["summary"]["total_circuit_breakers"] == 6


def test_open_breakers_show_in_health_and_fail_fast_counts(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    assert client.get(f"{BASE}/health").json()["healthy"] is True
    fake.mode = "error500"
    for n in range(3):
        ask(client, n)
    assert ask(client, 9).status_code == 503
    health = client.get(f"{BASE}/health").json()
    assert health["healthy"] is False and health["status"] == "unhealthy"
    assert "ai_service" in health["details"]["open_circuit_breakers"]
    assert health["preset"] == "development"
    summary = client.get(f"{BASE}/metrics").json()["performance_summary"]
    assert summary["circuit_breaker_opens"] == 2  # ai_service and summarize
    assert summary["fail_fast_rejections_since_start"] >= 1


def test_preset_trends_measure_each_preset_over_its_own_periods(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    for n in range(2):
        assert ask(client, n).status_code == 200
    apply(client, {"preset": "conservative"})
    fake.mode = "error500"
    assert ask(client, 10).status_code == 502  # five failed attempts under conservative

    development = client.get(f"{BASE}/preset-trends/development").json()
    (period,) = development["performance_evolution"]
    assert period["ai_calls"] == 2 and period["failure_rate"] == 0.0 and period["current"] is False
    conservative = client.get(f"{BASE}/preset-trends/conservative").json()
    (period,) = conservative["performance_evolution"]
    assert (period["ai_calls"], period["failed_calls"], period["retries"]) == (5, 5, 4)
    assert period["current"] is True and conservative["currently_active"] is True

    never = client.get(f"{BASE}/preset-trends/production").json()
    assert never["performance_evolution"] == [] and "has not been active" in never["note"]
    unknown = client.get(f"{BASE}/preset-trends/turbo")
    assert unknown.status_code == 422 and "production" in unknown.json()["detail"]


def test_a_failed_snapshot_degrades_trends_but_the_preset_still_applies(client_for: Any, fake: FakeOpenAI,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = llm_client(client_for, fake)

    def broken() -> None:
        raise RuntimeError("collection failed")

    monkeypatch.setattr(client.app.state.services.telemetry.history, "record", broken)
    response = apply(client, {"preset": "conservative"})
    assert response.status_code == 200 and "collection failed" in response.json()["warnings"][0]
    assert client.get(f"{BASE}/config/export").json()["preset"] == "conservative"


def test_performance_trends_turn_degrading_when_the_vendor_starts_failing(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, resilience_failure_threshold=100)
    for n in range(4):  # four slices: two healthy, two failing
        fake.mode = "ok" if n < 2 else "error500"
        for i in range(3):
            ask(client, 10 * n + i)
        tick(client)
    trends = client.get(f"{BASE}/performance-metrics").json()["trends"]
    assert trends["direction"] == "degrading"
    busy = [s for s in trends["slices"] if s["ai_calls"]]  # the slice after the last tick is quiet
    assert [s["failure_rate"] for s in busy] == [0.0, 0.0, 100.0, 100.0]
    assert sum(s["ai_calls"] for s in trends["slices"]) == fake.calls
    assert sum(s["retries"] for s in trends["slices"]) == 6  # 6 failing requests, one retry each


def test_usage_statistics_share_operations_and_preset_time(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    for n in range(3):
        ask(client, n)
    ask(client, 0)  # a cache hit is a request too
    ask(client, 5, "sentiment")
    apply(client, {"preset": "production"})
    usage = client.get(f"{BASE}/usage-statistics").json()["usage_patterns"]
    assert usage["total_requests"] == 5 and usage["busiest_operation"] == "summarize"
    assert usage["operations"]["summarize"]["share_percent"] == 80.0
    assert usage["operations"]["summarize"]["cache_hits"] == 1
    assert usage["peak_hour"]["requests"] == 5
    assert set(usage["presets"]) == {"development", "production"} and usage["current_preset"] == "production"
    assert sum(p["share_percent"] for p in usage["presets"].values()) == pytest.approx(100.0, abs=0.01)


def test_capacity_analysis_judges_against_the_configured_limit(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, llm_max_concurrency=3)
    empty = client.get(f"{BASE}/capacity-analysis").json()
    assert any("No AI calls" in r for r in empty["recommendations"])
    for n in range(4):
        ask(client, n)
    answer = client.get(f"{BASE}/capacity-analysis").json()
    assert answer["concurrency"]["limit"] == 3
    assert answer["throughput"]["ai_calls"] == 4 and answer["throughput"]["ai_calls_per_second"] > 0
    assert answer["concurrency"]["average_in_flight"] > 0
    assert answer["latency"]["ai_p95_kpi_ms"] == 30000.0
    assert answer["circuit_breakers"]["ai_service"]["failure_threshold"] == 3
    assert answer["recommendations"]


def test_window_query_is_validated(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    for path in ("metrics", "performance-metrics", "usage-statistics", "capacity-analysis"):
        assert client.get(f"{BASE}/{path}", params={"time_window_hours": -1}).status_code == 422
    assert client.get(f"{BASE}/config/recent-changes", params={"limit": 0}).status_code == 422
