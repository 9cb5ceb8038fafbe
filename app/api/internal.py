"""/internal: the operator surface the runbooks call (monitoring, resilience, cache)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from app.api.deps import ServicesDep
from app.monitoring.exposition import CONTENT_TYPE, render
from app.runbook import Runbook

monitoring = APIRouter(prefix="/internal/monitoring", tags=["monitoring"])
resilience = APIRouter(prefix="/internal/resilience", tags=["resilience"])
cache = APIRouter(prefix="/internal/cache", tags=["cache"])

HoursQuery = Annotated[float, Query(gt=0, le=24 * 90, description="Window length in hours.")]


@monitoring.get("/overview")
async def overview(services: ServicesDep) -> dict[str, Any]:
    return await Runbook(services).overview()


@monitoring.get("/health")
async def monitoring_health(services: ServicesDep) -> dict[str, Any]:
    return await Runbook(services).health()


@monitoring.get("/metrics", response_model=None)
async def metrics(services: ServicesDep, time_window_hours: HoursQuery = 1.0,
                  format: Literal["json", "prometheus"] = "json") -> dict[str, Any] | Response:
    if format == "prometheus":
        return Response(render(services.monitor.history.latest()), media_type=CONTENT_TYPE)
    return await Runbook(services).metrics(time_window_hours)


@monitoring.get("/alerts")
async def alerts(services: ServicesDep) -> dict[str, Any]:
    return Runbook(services).alerts()


@resilience.get("/circuit-breakers")
async def circuit_breakers(services: ServicesDep) -> dict[str, Any]:
    return Runbook(services).circuit_breakers()


@resilience.post("/circuit-breakers/{name}/reset")
async def reset_breaker(name: str, services: ServicesDep) -> dict[str, Any]:
    breakers = services.resilience.breakers
    if name not in breakers:
        raise HTTPException(404, f"no circuit breaker named '{name}'; existing: {', '.join(sorted(breakers))}")
    new_state, also_reset = services.resilience.reset(name)
    return {"message": f"circuit breaker '{name}' reset", "name": name, "new_state": new_state,
            "also_reset": also_reset}


@cache.get("/stats")
async def cache_stats(services: ServicesDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return Runbook(services).cache_stats(time_window_hours)
