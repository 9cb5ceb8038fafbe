"""/internal/monitoring: the runbook's monitoring commands."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic_core import to_json

from app.api.deps import HoursQuery, ServicesDep
from app.monitoring.exposition import CONTENT_TYPE, render
from app.services.runbook import Runbook

router = APIRouter(prefix="/internal/monitoring", tags=["monitoring"])


@router.get("/overview")
async def overview(services: ServicesDep) -> dict[str, Any]:
    return await Runbook(services).overview()


@router.get("/health")
async def monitoring_health(services: ServicesDep) -> dict[str, Any]:
    return await Runbook(services).health()


@router.get("/metrics", response_model=None, responses={200: {
    "description": "The metrics as JSON, or in the Prometheus text format with format=prometheus",
    "content": {"application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": {"type": "string"}}}}})
async def metrics(services: ServicesDep, time_window_hours: HoursQuery = 1.0,
                  format: Literal["json", "prometheus"] = "json") -> dict[str, Any] | Response:
    if format == "prometheus":
        return Response(render(services.monitor.history.latest()), media_type=CONTENT_TYPE)
    # Serialized here, as FastAPI serializes the routes typed dict[str, Any]: with response_model=None (the
    # Response above) it would walk the answer with jsonable_encoder, a third of a 168-hour answer's time.
    return Response(to_json(await Runbook(services).metrics(time_window_hours)), media_type="application/json")


@router.get("/alerts")
async def alerts(services: ServicesDep) -> dict[str, Any]:
    return Runbook(services).alerts()
