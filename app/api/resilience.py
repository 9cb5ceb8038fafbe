"""/internal/resilience: circuit breakers, retries and presets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from app.api.deps import ServicesDep
from app.runbook import Runbook

router = APIRouter(prefix="/internal/resilience", tags=["resilience"])


@router.get("/circuit-breakers")
async def circuit_breakers(services: ServicesDep) -> dict[str, Any]:
    return Runbook(services).circuit_breakers()


@router.post("/circuit-breakers/{name}/reset")
async def reset_breaker(name: str, services: ServicesDep) -> dict[str, Any]:
    breakers = services.resilience.breakers
    if name not in breakers:
        raise HTTPException(404, f"no circuit breaker named '{name}'; existing: {', '.join(sorted(breakers))}")
    new_state, also_reset = services.resilience.reset(name)
    return {"message": f"circuit breaker '{name}' reset", "name": name, "new_state": new_state,
            "also_reset": also_reset}
