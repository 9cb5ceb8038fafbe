"""MONITORING_WEBHOOK_URL as the receiving end sees it: signed notifications, retries, overflow, test-webhook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.alerts import close_breaker, open_breaker, webhook_status
from tests.helpers.processes import free_port
from tests.helpers.webhook_receiver import WebhookReceiver, wait_until

SECRET = "webhook-test-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    rec = WebhookReceiver(SECRET).start()
    yield rec
    rec.stop()


def notifying_client(client_for: Any, url: str, **overrides: Any) -> TestClient:
    settings = {"redis_enabled": False, "monitoring_webhook_url": url, "monitoring_webhook_secret": SECRET,
                "monitoring_webhook_backoff_seconds": 0.05, **overrides}
    client: TestClient = client_for(**settings)
    return client


def test_fired_and_resolved_alerts_are_posted_signed(client_for: Any, receiver: WebhookReceiver) -> None:
    client = notifying_client(client_for, receiver.url)
    open_breaker(client)
    [fired] = receiver.wait_for(1, "alert.fired")
    assert fired.signature_valid, fired.headers
    assert fired.headers["x-signature-256"].startswith("sha256=")
    assert fired.headers["x-webhook-event"] == "alert.fired"
    assert fired.headers["x-webhook-delivery"] == fired.json["delivery_id"]
    alert = fired.json["alert"]
    assert (alert["name"], alert["severity"], alert["status"]) == ("CircuitBreakerOpen", "critical", "firing")
    assert "CircuitBreakerOpen" in fired.json["summary"]

    close_breaker(client)
    [resolved] = receiver.wait_for(1, "alert.resolved")
    assert resolved.signature_valid
    assert resolved.json["alert"]["status"] == "resolved"
    assert resolved.json["alert"]["resolved_at"] >= alert["first_seen"]
    assert webhook_status(client)["delivered"] == 2


def test_unsigned_without_a_secret_and_the_status_says_so(client_for: Any, receiver: WebhookReceiver) -> None:
    client = notifying_client(client_for, receiver.url, monitoring_webhook_secret="")
    answer = client.post("/internal/monitoring/test-webhook").json()
    assert answer["signed"] is False
    [test] = receiver.wait_for(1, "webhook.test")
    assert "x-signature-256" not in test.headers


def test_test_webhook_sends_a_real_notification_and_reports_the_answer(client_for: Any,
                                                                        receiver: WebhookReceiver) -> None:
    response = notifying_client(client_for, receiver.url).post("/internal/monitoring/test-webhook")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["delivered"], answer["status_code"], answer["attempts"]) == (True, 200, 1)
    assert answer["latency_ms"] > 0 and answer["response"] == '{"ok": true}'
    assert answer["receiver"] == f"http://127.0.0.1:{receiver.port}/***"  # the path may hold a token
    [test] = receiver.events("webhook.test")
    assert test.signature_valid


def test_test_webhook_without_a_url_is_a_409_naming_the_setting(client_for: Any) -> None:
    response = client_for(redis_enabled=False).post("/internal/monitoring/test-webhook")
    assert response.status_code == 409
    assert "MONITORING_WEBHOOK_URL is not set" in response.json()["detail"]


def test_test_webhook_with_the_receiver_down_is_a_502_with_details(client_for: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    response = notifying_client(client_for, url).post("/internal/monitoring/test-webhook")
    assert response.status_code == 502
    answer = response.json()
    assert answer["error"] == "webhook_delivery_failed" and answer["delivered"] is False
    assert answer["attempts"] == 3 and answer["status_code"] is None
    assert "ConnectError" in answer["detail"] and "ConnectError" in answer["reason"]


def test_a_receiver_that_answers_500_is_retried_then_reported(client_for: Any, receiver: WebhookReceiver) -> None:
    receiver.status = 500
    response = notifying_client(client_for, receiver.url).post("/internal/monitoring/test-webhook")
    assert response.status_code == 502
    answer = response.json()
    assert (answer["status_code"], answer["attempts"]) == (500, 3)
    assert "HTTP 500" in answer["detail"]
    assert [r.headers["x-webhook-attempt"] for r in receiver.events()] == ["1", "2", "3"]


def test_a_receiver_that_refuses_with_4xx_is_not_retried(client_for: Any, receiver: WebhookReceiver) -> None:
    receiver.status = 401
    answer = notifying_client(client_for, receiver.url).post("/internal/monitoring/test-webhook").json()
    assert (answer["status_code"], answer["attempts"]) == (401, 1)


def test_notifications_are_retried_until_the_receiver_comes_back(client_for: Any) -> None:
    receiver = WebhookReceiver(SECRET)  # not started: the receiver is down
    client = notifying_client(client_for, receiver.url, monitoring_webhook_max_attempts=10,
                              monitoring_webhook_backoff_seconds=0.1)
    open_breaker(client)
    in_flight = wait_until(lambda: (f := webhook_status(client)["in_flight"]) and f["attempts"] >= 2 and f,
                           what="two failed attempts")
    assert "ConnectError" in in_flight["last_error"]
    receiver.start()
    try:
        [fired] = receiver.wait_for(1, "alert.fired", timeout_s=30)
    finally:
        receiver.stop()
    assert int(fired.headers["x-webhook-attempt"]) >= 3 and fired.signature_valid
    status = webhook_status(client)
    assert status["delivered"] == 1 and status["retries"] >= 2 and status["failed"] == 0


def test_a_full_queue_drops_and_counts_the_overflow(client_for: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks"  # down, with a long backoff: the worker holds one
    client = notifying_client(client_for, url, monitoring_webhook_queue_size=1,
                              monitoring_webhook_backoff_seconds=30, monitoring_webhook_max_attempts=2)
    for _ in range(3):  # six notifications: one in flight, one queued, the rest overflow
        open_breaker(client)
        close_breaker(client)
    status = wait_until(lambda: (s := webhook_status(client))["queue"]["size"] == 1 and s, what="a full queue")
    assert status["queue"]["capacity"] == 1
    assert status["queue"]["overflow"] == 4
    assert status["in_flight"]["attempts"] == 1


def test_alerts_never_wait_for_the_receiver(client_for: Any, receiver: WebhookReceiver) -> None:
    receiver.released.clear()  # the receiver takes the request and does not answer
    client = notifying_client(client_for, receiver.url)
    open_breaker(client)  # returns although the notification is still unanswered
    assert client.get("/internal/monitoring/alerts").json()["by_severity"]["critical"] == 1
    receiver.wait_for(1, "alert.fired")
    assert webhook_status(client)["delivered"] == 0
    receiver.released.set()
    wait_until(lambda: webhook_status(client)["delivered"] == 1, what="the delivery once answered")


def test_alerts_fired_on_the_history_tick_are_recorded_and_sent(client_for: Any, receiver: WebhookReceiver) -> None:
    # nobody calls /alerts: the history thread evaluates, and hands the alert over to the event loop
    client = notifying_client(client_for, receiver.url, metrics_export_interval=1)
    breaker = client.app.state.services.resilience.breakers["ai_service"]  # type: ignore[attr-defined]
    while breaker.state != "open":
        breaker.record_failure()
    [fired] = receiver.wait_for(1, "alert.fired", timeout_s=10)
    assert fired.json["alert"]["name"] == "CircuitBreakerOpen" and fired.signature_valid
    records = client.get("/internal/monitoring/alerts/history?days=1").json()["alerts"]
    assert fired.json["alert"]["id"] in [a["id"] for a in records]
