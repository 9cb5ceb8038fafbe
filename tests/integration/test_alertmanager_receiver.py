"""Alertmanager's webhook (version 4) into the service: kept in the alert history, relayed signed."""

from __future__ import annotations

from typing import Any

from tests.helpers.webhook_receiver import WebhookReceiver

FIRING = {
    "version": "4", "status": "firing", "receiver": "llm-service", "groupKey": "{}:{alertname=\"Api\"}",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "ApiErrorRateCritical", "severity": "critical", "source": "api", "kpi": "error_rate"},
        "annotations": {"summary": "API error rate (degraded) above 5 %",
                        "description": "API error rate (degraded) is 12.50 %, above the KPI threshold of 5 %."},
        "startsAt": "2026-11-27T06:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc123",
    }],
}


def test_prometheus_alerts_are_recorded_and_relayed(client_for: Any) -> None:
    receiver = WebhookReceiver(secret="s3cret").start()
    try:
        client = client_for(redis_enabled=False, monitoring_webhook_url=receiver.url,
                            monitoring_webhook_secret="s3cret")
        answer = client.post("/internal/monitoring/alerts/webhook", json=FIRING)
        assert answer.status_code == 200 and answer.json()["firing"] == 1
        relayed = receiver.wait_for(1, kind="alert.fired")[0]
        assert relayed.signature_valid
        assert relayed.json["alert"]["name"] == "ApiErrorRateCritical"
        assert relayed.json["alert"]["source"] == "prometheus/api"
    finally:
        receiver.stop()
    history = client.get("/internal/monitoring/alerts/history", params={"days": 30}).json()
    assert any(a["name"] == "ApiErrorRateCritical" and a["instance"] == "prometheus" for a in history["alerts"])


def test_a_malformed_payload_is_a_422(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    answer = client.post("/internal/monitoring/alerts/webhook", json={"status": "firing", "alerts": []})
    assert answer.status_code == 422
    assert "alerts" in str(answer.json()["detail"])
