"""Alertmanager's webhook payload (version 4) as alert records, so alerts that Prometheus fires are
kept and relayed beside the in-process ones (source ``prometheus``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.monitoring.alert_store import AlertRecord

# Alertmanager writes this for an alert that has not ended yet.
_NEVER = "0001-01-01T00:00:00Z"


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str  # Alertmanager's field names
    endsAt: str = _NEVER
    fingerprint: str = ""


class AmPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = "4"
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[AmAlert] = Field(min_length=1, max_length=1000)


def _ts(value: str) -> float | None:
    if not value or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def records(payload: AmPayload, received_at: float) -> list[AlertRecord]:
    out = []
    for alert in payload.alerts:
        name = alert.labels.get("alertname", "unnamed")
        started = _ts(alert.startsAt) or received_at
        ended = _ts(alert.endsAt) if alert.status == "resolved" else None
        description = alert.annotations.get("description") or alert.annotations.get("summary") or name
        out.append(AlertRecord(
            id=f"prometheus:{alert.fingerprint or name}:{started:.3f}", name=name,
            severity=alert.labels.get("severity", "warning"), source=f"prometheus/{alert.labels.get('source', '')}",
            title=alert.annotations.get("summary", name), message=description, value=0.0, threshold=0.0,
            unit="", status=alert.status, first_seen=started, last_seen=ended or received_at,
            resolved_at=ended, instance="prometheus"))
    return out


def summary(payload: AmPayload) -> dict[str, Any]:
    return {"received": len(payload.alerts), "firing": sum(a.status == "firing" for a in payload.alerts),
            "resolved": sum(a.status == "resolved" for a in payload.alerts)}
