"""What a webhook receiver gets: one JSON object per alert that fires or resolves, or per test."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from app.monitoring.alert_store import AlertRecord
from app.monitoring.reports import iso

EventType = Literal["alert.fired", "alert.resolved", "webhook.test"]


def event(kind: EventType, service: str, environment: str, instance: str,
          alert: AlertRecord | None = None, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    body: dict[str, Any] = {"event": kind, "delivery_id": uuid.uuid4().hex, "sent_at": iso(now),
                            "service": service, "environment": environment, "instance": instance}
    if alert is not None:
        state = "RESOLVED" if kind == "alert.resolved" else alert.severity.upper()
        body["alert"] = alert.as_dict()
        body["summary"] = f"[{state}] {alert.name}: {alert.message}"
    else:
        body["message"] = "Test notification from POST /internal/monitoring/test-webhook"
    return body
