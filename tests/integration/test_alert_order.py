"""Alerts flapping under concurrent evaluations end, at the webhook receiver and in the alert store,
as they ended in the engine: a resolve is never overtaken by its own fire (issue 15 item 9)."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers.alerts import QUIET, AlertKey, engine_state, flap_concurrently
from tests.helpers.webhook_receiver import WebhookReceiver


def test_webhook_and_alert_store_end_as_the_engine_did(client_for: Any) -> None:
    receiver = WebhookReceiver().start()
    try:
        client = client_for(redis_enabled=False, monitoring_webhook_url=receiver.url,
                            monitoring_webhook_queue_size=10_000)
        book = client.app.state.services.monitor.alerts
        flap_concurrently(book, threads=4, evaluations=40, start=time.time() - 60)  # inside the history's days
        book.evaluate(QUIET)  # all resolved, as the history thread would find them too: the state is final
        engine = engine_state(book)
        assert len(engine) > 20, "the alerts did not flap"
        notifications = len(engine) + sum(status == "resolved" for status in engine.values())
        receiver.wait_for(notifications, timeout_s=30)

        webhook: dict[AlertKey, str] = {}
        for received in receiver.events():  # in the order the receiver got them
            alert = received.json["alert"]
            webhook[(alert["name"], alert["first_seen"])] = alert["status"]
        history = client.get("/internal/monitoring/alerts/history?days=90").json()
        store = {(a["name"], a["first_seen"]): a["status"] for a in history["alerts"]}
    finally:
        receiver.stop()
    assert webhook == engine
    assert {key: store.get(key) for key in engine} == engine
