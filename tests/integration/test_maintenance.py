"""Maintenance mode: silences notifications, not recording; shared by workers through Redis; expires."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.helpers.alerts import close_breaker, open_breaker, webhook_status
from tests.helpers.processes import RedisServer
from tests.helpers.webhook_receiver import WebhookReceiver, wait_until

ENABLE = "/internal/monitoring/maintenance-mode/enable"
DISABLE = "/internal/monitoring/maintenance-mode/disable"
KEY = "monitoring:maintenance"
SECRET = "maintenance-test-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver(SECRET).start()
    yield rec
    rec.stop()


def test_maintenance_silences_notifications_but_alerts_are_recorded(client_for: Any,
                                                                     receiver: WebhookReceiver) -> None:
    client = client_for(redis_enabled=False, monitoring_webhook_url=receiver.url, monitoring_webhook_secret=SECRET)
    enabled = client.post(ENABLE)  # as the guide runs it: no body
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert "silenced" in enabled.json()["message"]

    open_breaker(client)
    wait_until(lambda: webhook_status(client)["silenced"] >= 1, what="the notification silenced")
    assert receiver.events() == []
    history = client.get("/internal/monitoring/alerts/history?days=7").json()
    assert "CircuitBreakerOpen" in [a["name"] for a in history["alerts"]]  # still recorded
    assert client.get("/internal/monitoring/health").json()["maintenance"]["notifications"] == "silenced"
    assert client.get("/internal/monitoring/overview").json()["maintenance"]["enabled"] is True

    disabled = client.post(DISABLE).json()
    assert disabled["enabled"] is False and disabled["previous"]["duration_seconds"] >= 0
    assert disabled["silenced_notifications"] >= 1
    close_breaker(client)
    [resolved] = receiver.wait_for(1, "alert.resolved")
    assert resolved.json["alert"]["name"] == "CircuitBreakerOpen"
    assert client.get("/internal/monitoring/health").json()["maintenance"]["enabled"] is False


def test_test_webhook_still_sends_during_maintenance_and_says_so(client_for: Any,
                                                                  receiver: WebhookReceiver) -> None:
    client = client_for(redis_enabled=False, monitoring_webhook_url=receiver.url, monitoring_webhook_secret=SECRET)
    client.post(ENABLE)
    answer = client.post("/internal/monitoring/test-webhook").json()
    assert answer["delivered"] is True and answer["maintenance_mode"] is True
    assert len(receiver.events("webhook.test")) == 1


def test_shared_by_every_worker_through_redis(client_for: Any, redis_url: str) -> None:
    first, second = client_for(redis_url=redis_url), client_for(redis_url=redis_url)
    state = first.post(ENABLE, json={"reason": "upgrading Redis", "duration_minutes": 30}).json()
    assert state["storage"] == "redis" and state["shared_by_all_workers"] is True
    seen = second.get("/internal/monitoring/health").json()["maintenance"]
    assert (seen["enabled"], seen["reason"]) == (True, "upgrading Redis")
    assert 29 * 60 < seen["remaining_seconds"] <= 30 * 60
    assert 29 * 60_000 < redis.Redis.from_url(redis_url).pttl(KEY) <= 30 * 60_000  # Redis ends it by itself

    assert second.post(DISABLE).json()["previous"]["reason"] == "upgrading Redis"
    assert first.get("/internal/monitoring/maintenance-mode").json()["enabled"] is False


def test_a_duration_ends_it_by_itself(client_for: Any, redis_url: str) -> None:
    client = client_for(redis_url=redis_url)
    state = client.post(ENABLE, json={"reason": "short window", "duration_minutes": 0.01}).json()  # 0.6 s
    assert state["enabled"] is True and state["until"] is not None
    wait_until(lambda: client.get("/internal/monitoring/maintenance-mode").json()["enabled"] is False,
               timeout_s=5, what="the window to expire")


def test_without_redis_it_is_this_worker_only_and_says_so(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    state = client.post(ENABLE, json={"duration_minutes": 5}).json()
    assert (state["enabled"], state["storage"], state["shared_by_all_workers"]) == (True, "memory", False)


def test_set_while_redis_is_down_reaches_redis_when_it_is_back(client_for: Any, redis_server: RedisServer,
                                                                redis_url: str) -> None:
    first = client_for(redis_url=redis_url)
    redis_server.stop()
    try:
        state = first.post(ENABLE, json={"reason": "during an outage"}).json()
        assert state["enabled"] is True and state["storage"] == "memory"
        assert "this worker only" in state["warning"]
        assert first.get("/internal/monitoring/maintenance-mode").json()["enabled"] is True
    finally:
        redis_server.start()
    second = client_for(redis_url=redis_url)
    wait_until(lambda: first.get("/internal/monitoring/maintenance-mode").json()["storage"] == "redis",
               what="Redis back for the first worker")
    assert second.get("/internal/monitoring/maintenance-mode").json()["reason"] == "during an outage"


@pytest.mark.parametrize(("body", "words"), [
    ({"duration_minutes": -5}, "greater than 0"),
    ({"duration_minutes": 100_000}, "less than or equal to 10080"),
    ({"reason": ""}, "at least 1 character"),
    ({"duraton_minutes": 5}, "Extra inputs are not permitted"),
])
def test_a_bad_body_is_a_422_that_says_what_is_wrong(client_for: Any, body: dict[str, Any], words: str) -> None:
    client = client_for(redis_enabled=False)
    response = client.post(ENABLE, json=body)
    assert response.status_code == 422 and words in str(response.json()["detail"])
    assert client.get("/internal/monitoring/maintenance-mode").json()["enabled"] is False
