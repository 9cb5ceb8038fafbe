"""/internal/cache: cache statistics, analysis and maintenance."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from app.api.deps import HoursQuery, ServicesDep
from app.cache.backup import Backup
from app.cache.runbook import CacheRunbook
from app.services.runbook import Runbook

router = APIRouter(prefix="/internal/cache", tags=["cache"])


async def get_runbook(services: ServicesDep) -> CacheRunbook:
    return CacheRunbook(services.cache, services.monitor, services.settings, services.catalog)


RunbookDep = Annotated[CacheRunbook, Depends(get_runbook)]


@router.get("/stats")
async def cache_stats(services: ServicesDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return Runbook(services).cache_stats(time_window_hours)


@router.get("/performance-analysis")
async def performance_analysis(runbook: RunbookDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    """Hit ratio per operation and tier, lookup and Redis latency, memory tier, compression, KPI verdicts."""
    return await runbook.performance_analysis(time_window_hours)


@router.get("/optimization-recommendations")
async def optimization_recommendations(runbook: RunbookDep,
                                       time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    """Advice derived from the performance analysis, each with its priority, measured reason and action."""
    return await runbook.recommendations(time_window_hours)


@router.post("/cleanup")
async def cleanup(runbook: RunbookDep) -> dict[str, Any]:
    """Drop expired entries from the memory tier now; report what that freed."""
    return runbook.cleanup()


@router.post("/clear")
async def clear(runbook: RunbookDep) -> dict[str, Any]:
    """Empty both tiers."""
    return await runbook.clear()


@router.get("/backup")
async def backup(runbook: RunbookDep) -> dict[str, Any]:
    """Every live entry of both tiers with its remaining TTL; ``POST /restore`` takes it back."""
    return await runbook.backup()


@router.post("/restore")
async def restore(body: Backup, runbook: RunbookDep) -> dict[str, Any]:
    """Restore a backup; entries whose TTL ran out since it was taken are skipped."""
    return await runbook.restore(body)
