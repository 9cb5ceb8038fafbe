"""/internal/cache: cache statistics and maintenance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import HoursQuery, ServicesDep
from app.runbook import Runbook

router = APIRouter(prefix="/internal/cache", tags=["cache"])


@router.get("/stats")
async def cache_stats(services: ServicesDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return Runbook(services).cache_stats(time_window_hours)
