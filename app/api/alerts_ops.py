"""/internal/monitoring: alert history and trends, webhook notifications, maintenance mode."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import ServicesDep
from app.api.errors import ErrorBody, error_response
from app.monitoring import alertmanager, patterns
from app.notify import event

router = APIRouter(prefix="/internal/monitoring", tags=["alerts"])

DaysQuery = Annotated[float, Query(gt=0, le=3650, description="How many days back, up to the retention.")]
WeeksQuery = Annotated[int, Query(ge=1, le=104, description="How many ISO weeks, the current one included.")]
TEST_ATTEMPTS = 3  # an operator waits on the answer: fewer retries than a real notification gets


class MaintenanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="planned maintenance", min_length=1, max_length=500)
    duration_minutes: float | None = Field(default=None, gt=0, le=7 * 24 * 60,
                                           description="Ends by itself after this long; omit to keep it on.")


@router.get("/alerts/history")
async def alert_history(services: ServicesDep, days: DaysQuery = 7.0) -> dict[str, Any]:
    store, now = services.alert_store, time.time()
    store.refresh(services.monitor.evaluate_alerts())
    retention_days = store.retention_s / 86400
    stored = await store.query(now - min(days, retention_days) * 86400)
    return patterns.history_report(days, retention_days, stored.records, now, stored.status)


@router.get("/alerts/trends")
async def alert_trends(services: ServicesDep, weeks: WeeksQuery = 4) -> dict[str, Any]:
    store, now = services.alert_store, time.time()
    store.refresh(services.monitor.evaluate_alerts())
    stored = await store.query(patterns.week_start(now).timestamp() - weeks * patterns.WEEK_SECONDS)
    return patterns.trends_report(stored.records, now, weeks, store.retention_s, stored.status)


@router.post("/test-webhook", response_model=None, responses={
    409: {"model": ErrorBody, "description": "No webhook configured (MONITORING_WEBHOOK_URL)"},
    502: {"model": ErrorBody, "description": "The receiver did not accept the test notification"}})
async def test_webhook(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    notifier, settings = services.notifier, services.settings
    if not notifier.configured:
        return error_response(409, "MONITORING_WEBHOOK_URL is not set: set it to the receiver's URL (and "
                                   "MONITORING_WEBHOOK_SECRET to sign notifications), then restart",
                              "webhook_not_configured")
    test = event("webhook.test", settings.otel_service_name, settings.environment, services.alert_store.instance)
    result = await notifier.deliver(test, max_attempts=min(TEST_ATTEMPTS, notifier.max_attempts))
    answer = {**result.as_dict(), "receiver": notifier.receiver, "signed": notifier.status()["signed"],
              "maintenance_mode": await services.maintenance.active()}
    reason = answer.pop("error")
    if result.delivered:
        return {"message": f"the receiver accepted the test notification (HTTP {result.status_code})", **answer}
    return error_response(502, f"the webhook receiver at {answer['receiver']} did not accept the test "
                               f"notification after {result.attempts} attempt(s): {reason}",
                          "webhook_delivery_failed", reason=reason, **answer)


@router.get("/webhook")
async def webhook_status(services: ServicesDep) -> dict[str, Any]:
    return {**services.notifier.status(), "maintenance": await services.maintenance.state()}


@router.get("/maintenance-mode")
async def maintenance_state(services: ServicesDep) -> dict[str, Any]:
    return await services.maintenance.state()


@router.post("/maintenance-mode/enable")
async def enable_maintenance(services: ServicesDep,
                             body: Annotated[MaintenanceRequest | None, Body()] = None) -> dict[str, Any]:
    request = body or MaintenanceRequest()
    state = await services.maintenance.enable(request.reason, request.duration_minutes)
    ends = f"until {state['until']}" if state["until"] else "until disabled"
    return {"message": f"maintenance mode enabled {ends}: alert notifications are silenced, alerts still "
                       "recorded", **state}


@router.post("/maintenance-mode/disable")
async def disable_maintenance(services: ServicesDep) -> dict[str, Any]:
    state = await services.maintenance.disable()
    was = "disabled" if state["previous"] else "was not enabled"
    return {"message": f"maintenance mode {was}: alert notifications are sent again",
            "silenced_notifications": services.notifier.counts["silenced"], **state}


@router.post("/alerts/webhook")
async def alertmanager_webhook(payload: alertmanager.AmPayload, services: ServicesDep) -> dict[str, Any]:
    """Alertmanager's receiver (collector/alertmanager/alertmanager.yml): Prometheus' alerts are kept
    in the alert history and relayed to MONITORING_WEBHOOK_URL like the in-process ones."""
    received = alertmanager.records(payload, time.time())
    for record in received:
        services.report_alert(record, "alert.resolved" if record.status == "resolved" else "alert.fired")
    return {"message": "alerts recorded", **alertmanager.summary(payload)}
