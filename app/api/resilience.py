"""/internal/resilience: circuit breakers, retries, presets and their history."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request

from app.api.deps import HoursQuery, ServicesDep
from app.api.errors import ApiError, ErrorBody
from app.resilience.config import ApplyRequest, ConfigError, parse_apply
from app.resilience.presets import PresetName
from app.resilience.runbook import ResilienceRunbook
from app.services.runbook import Runbook

router = APIRouter(prefix="/internal/resilience", tags=["resilience"])


def get_runbook(services: ServicesDep) -> ResilienceRunbook:
    ai_p95 = next(k.threshold for k in services.catalog if k.field == "ai_p95_ms")  # the KPI capacity is judged by
    return ResilienceRunbook(services.resilience, services.monitor, services.settings.llm_max_concurrency, ai_p95)


RunbookDep = Annotated[ResilienceRunbook, Depends(get_runbook)]


@router.get("/health")
async def health(runbook: RunbookDep) -> dict[str, Any]:
    return runbook.health()


@router.get("/metrics")
async def metrics(runbook: RunbookDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return runbook.metrics(time_window_hours)


@router.get("/performance-metrics")
async def performance_metrics(runbook: RunbookDep, time_window_hours: HoursQuery = 24.0) -> dict[str, Any]:
    return runbook.performance(time_window_hours)


@router.get("/usage-statistics")
async def usage_statistics(runbook: RunbookDep, time_window_hours: HoursQuery = 24.0) -> dict[str, Any]:
    return {"usage_patterns": runbook.usage(time_window_hours)}


@router.get("/preset-trends/{preset}")
async def preset_trends(preset: PresetName, runbook: RunbookDep) -> dict[str, Any]:
    return runbook.preset_trends(preset)


@router.get("/capacity-analysis")
async def capacity_analysis(runbook: RunbookDep, time_window_hours: HoursQuery = 24.0) -> dict[str, Any]:
    return runbook.capacity(time_window_hours)


@router.get("/config/recent-changes")
async def recent_changes(runbook: RunbookDep,
                         limit: Annotated[int, Query(ge=1, le=100, description="Changes to return.")] = 20,
                         ) -> dict[str, Any]:
    return runbook.recent_changes(limit)


@router.get("/config/export")
async def export_config(services: ServicesDep) -> dict[str, Any]:
    return services.resilience.config()


_APPLY_BODY = {"$ref": "#/components/schemas/ApplyRequest"}
BODY_MODELS = (ApplyRequest,)  # the bodies read by hand below, for the OpenAPI components


@router.post("/config/apply-preset", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": _APPLY_BODY},
    # `curl -d '{"preset": ...}'` labels JSON as a form; `curl -d preset=...` sends a real one.
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["preset"], "additionalProperties": False,
        "properties": {"preset": {"type": "string", "enum": list(get_args(PresetName))}}}}}}})
async def apply_preset(request: Request, runbook: RunbookDep) -> dict[str, Any]:
    # The guide sends `curl -d '{...}'` without a Content-Type: read the bytes as JSON whatever the label.
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    try:
        body = parse_apply(await request.body(), form=form)
    except ConfigError as exc:
        raise ApiError(422, str(exc), "invalid_request") from None
    return runbook.apply(body)


@router.get("/circuit-breakers")
async def circuit_breakers(services: ServicesDep) -> dict[str, Any]:
    return Runbook(services).circuit_breakers()


@router.post("/circuit-breakers/{name}/reset",
             responses={404: {"model": ErrorBody, "description": "No circuit breaker of that name"}})
async def reset_breaker(name: str, services: ServicesDep) -> dict[str, Any]:
    breakers = services.resilience.breakers
    if name not in breakers:
        raise ApiError(404, f"no circuit breaker named '{name}'; existing: {', '.join(sorted(breakers))}",
                       "unknown_circuit_breaker")
    new_state, also_reset = services.resilience.reset(name)
    return {"message": f"circuit breaker '{name}' reset", "name": name, "new_state": new_state,
            "also_reset": also_reset}

