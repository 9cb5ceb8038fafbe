"""Alert history, patterns and weekly trends: from real alerts, kept in Redis across restarts and workers."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from app.main import create_app
from tests.helpers.alerts import close_breaker, open_breaker
from tests.helpers.processes import LiveService, RedisServer
from tests.helpers.webhook_receiver import wait_until
from tests.integration.conftest import LOCAL, make_settings

HISTORY = "/internal/monitoring/alerts/history?days=7"
TRENDS = "/internal/monitoring/alerts/trends"
TEXT = "Operators review alert patterns every week. Noisy alerts get tuned. Quiet ones get trusted."


def history(client: TestClient, path: str = HISTORY) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(path).json()
    return answer


def test_patterns_of_real_alerts(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    for _ in range(3):
        open_breaker(client)
        close_breaker(client)
    open_breaker(client)  # the fourth is still firing

    answer = history(client)
    assert answer["total_alerts"] == 4 and answer["storage"]["backend"] == "memory"
    assert "Redis not configured" in answer["storage"]["note"]
    assert [a["status"] for a in answer["alerts"]] == ["firing", "resolved", "resolved", "resolved"]  # newest first
    patterns = answer["patterns"]
    breaker = patterns["by_name"]["CircuitBreakerOpen"]
    assert (breaker["count"], breaker["resolved"], breaker["firing_now"]) == (4, 3, 1)
    assert breaker["mean_time_to_resolve_ms"] > 0
    assert patterns["most_frequent"][0] == {"name": "CircuitBreakerOpen", "count": 4, "severity": "critical"}
    assert patterns["by_severity"] == {"critical": 4, "warning": 0, "info": 0}
    assert patterns["by_hour_of_day"][f"{datetime.now(UTC).hour:02d}"] >= 4 - 1  # an hour may turn mid-test
    assert sum(patterns["by_hour_of_day"].values()) == 4

    firing = answer["alerts"][0]["firing_time_ms"]
    later = wait_until(lambda: (f := history(client)["alerts"][0]["firing_time_ms"]) > firing and f,
                       what="the firing alert's time to grow")
    assert later > firing


def test_weekly_trends_compare_with_the_previous_week(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    open_breaker(client)
    close_breaker(client)
    summary = history(client, TRENDS)["weekly_summary"]
    year, week, _ = datetime.now(UTC).isocalendar()
    assert summary["current_week"] == f"{year}-W{week:02d}"
    assert len(summary["weeks"]) == 4 and summary["weeks"][-1]["week"] == summary["current_week"]
    current = summary["weeks"][-1]
    assert current["total"] == 1 and current["by_severity"]["critical"] == 1 and current["in_progress"] is True
    comparison = summary["comparison"]
    assert (comparison["current"], comparison["previous"], comparison["change"]) == (1, 0, 1)
    assert comparison["trend"] == "increasing"
    assert len(history(client, TRENDS + "?weeks=2")["weekly_summary"]["weeks"]) == 2


def test_history_survives_a_restart_on_the_same_redis(redis_url: str, client_for: Any) -> None:
    tiny = {"alert_memory_warning_mb": 0.000001, "alert_memory_critical_mb": 0.000002}
    with TestClient(create_app(make_settings(redis_url=redis_url, **tiny)), client=(LOCAL, 50000)) as first:
        open_breaker(first)
        close_breaker(first)
        first.post("/v1/text_processing/process", json={"text": TEXT, "operation": "summarize"})
        first.get("/internal/monitoring/alerts")  # cache memory above the tiny thresholds: two fire
        instance = history(first)["alerts"][0]["instance"]
    # the first app is gone; a second one, with the default thresholds, reads what it recorded
    answer = history(client_for(redis_url=redis_url))
    assert answer["storage"]["backend"] == "redis" and answer["storage"]["shared"] is True
    recorded = {a["name"]: a for a in answer["alerts"] if a["instance"] == instance}
    assert set(recorded) == {"CircuitBreakerOpen", "CacheMemoryWarning", "CacheMemoryCritical"}
    assert recorded["CircuitBreakerOpen"]["status"] == "resolved"
    assert recorded["CacheMemoryCritical"]["status"] == "firing"
    assert recorded["CacheMemoryCritical"]["last_seen"] > recorded["CacheMemoryCritical"]["first_seen"]
    assert answer["patterns"]["by_name"]["CircuitBreakerOpen"]["mean_time_to_resolve_ms"] > 0
    assert answer["patterns"]["by_severity"]["critical"] == 2


def test_workers_share_the_history_while_both_run(redis_url: str, client_for: Any) -> None:
    first, second = client_for(redis_url=redis_url), client_for(redis_url=redis_url)
    open_breaker(first)
    instance = history(first)["alerts"][0]["instance"]
    seen = wait_until(lambda: [a for a in history(second)["alerts"] if a["instance"] == instance],
                      what="the second worker to see the first's alert")
    assert seen[0]["name"] == "CircuitBreakerOpen"
    trends = history(second, TRENDS)["weekly_summary"]
    assert trends["weeks"][-1]["by_name"]["CircuitBreakerOpen"] >= 1


def test_records_wait_in_memory_while_redis_is_down(redis_server: RedisServer, redis_url: str,
                                                    client_for: Any) -> None:
    client = client_for(redis_url=redis_url)
    redis_server.stop()
    try:
        open_breaker(client)
        answer = history(client)
        # answered from memory (the outage may fire RedisLatencyHigh too: failed calls are slow calls)
        assert "CircuitBreakerOpen" in [a["name"] for a in answer["alerts"]]
        assert answer["storage"]["backend"] == "memory" and "Redis unavailable" in answer["storage"]["note"]
        assert answer["storage"]["pending_writes"] >= 1
    finally:
        redis_server.start()
    # Polled in Redis itself, not as pending_writes == 0: while the alert fires, each evaluation (the
    # history request's own included) carries last_seen into the record and marks it pending again.
    raw = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: any(b"CircuitBreakerOpen" in v for v in raw.hvals("monitoring:alerts:records")),
                   what="the record written to Redis once it is back")
    finally:
        raw.close()
    other = history(client_for(redis_url=redis_url))
    assert "CircuitBreakerOpen" in [a["name"] for a in other["alerts"]]


def test_retention_trims_old_records_and_sets_an_expiry(redis_url: str, client_for: Any) -> None:
    client = client_for(redis_url=redis_url, alert_history_retention_days=3)
    raw = redis.Redis.from_url(redis_url)
    now = time.time()
    old: dict[str, Any] = {"id": "old-worker:ApiErrorRateHigh:1", "name": "ApiErrorRateHigh", "severity": "warning",
           "source": "api", "title": "API error rate", "message": "old", "value": 2.0, "threshold": 1.0,
           "unit": "%", "status": "resolved", "first_seen": now - 5 * 86400, "last_seen": now - 5 * 86400,
           "resolved_at": now - 5 * 86400 + 60, "instance": "old-worker"}
    raw.hset("monitoring:alerts:records", old["id"], json.dumps(old))
    raw.zadd("monitoring:alerts:index", {old["id"]: old["first_seen"]})

    open_breaker(client)  # the next write trims what is past the 3 days
    wait_until(lambda: not raw.hexists("monitoring:alerts:records", old["id"]), what="the old record trimmed")
    assert 0 < raw.ttl("monitoring:alerts:records") <= 3 * 86400
    answer = history(client)
    assert answer["covered_days"] == 3 and "ALERT_HISTORY_RETENTION_DAYS" in answer["note"]
    assert old["id"] not in [a["id"] for a in answer["alerts"]]
    assert "CircuitBreakerOpen" in [a["name"] for a in answer["alerts"]]
    raw.close()


@pytest.mark.parametrize("path", [
    "/internal/monitoring/alerts/history?days=0",
    "/internal/monitoring/alerts/history?days=seven",
    "/internal/monitoring/alerts/trends?weeks=0",
    "/internal/monitoring/alerts/trends?weeks=500",
])
def test_bad_query_is_a_422_naming_the_parameter(client_for: Any, path: str) -> None:
    response = client_for(redis_enabled=False).get(path)
    assert response.status_code == 422
    name = path.split("?")[1].split("=")[0]
    assert response.json()["errors"][0]["loc"] == ["query", name]
    assert response.json()["detail"].startswith(f"{name}: ")


def run(command: str) -> str:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_guides_commands_as_written(redis_server: RedisServer, redis_url: str) -> None:
    live = LiveService({"REDIS_URL": redis_url}).start()
    base = live.url
    try:
        patterns = json.loads(run(f"curl -s {base}/internal/monitoring/alerts/history?days=7 | jq '.patterns'"))
        assert patterns["total_alerts"] == 0 and patterns["by_severity"] == {"critical": 0, "warning": 0, "info": 0}
        weekly = json.loads(run(f"curl -s {base}/internal/monitoring/alerts/trends | jq '.weekly_summary'"))
        assert weekly["comparison"]["trend"] == "unchanged"
        enabled = json.loads(run(f"curl -X POST {base}/internal/monitoring/maintenance-mode/enable"))
        assert enabled["enabled"] is True and enabled["shared_by_all_workers"] is True
        assert run(f"curl -s {base}/internal/monitoring/health | jq -r '.maintenance.notifications'") == "silenced\n"
        webhook = run(f"curl -s -w '\\n%{{http_code}}' -X POST {base}/internal/monitoring/test-webhook")
        body, code = webhook.rsplit("\n", 1)
        assert code == "409" and "MONITORING_WEBHOOK_URL is not set" in json.loads(body)["detail"]
        disabled = json.loads(run(f"curl -X POST {base}/internal/monitoring/maintenance-mode/disable"))
        assert disabled["enabled"] is False
    finally:
        live.stop()
