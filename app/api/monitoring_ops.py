"""/internal/monitoring: capacity, performance, dependency and recovery analysis for the runbooks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.api.deps import HoursQuery, ServicesDep
from app.services.runbook_ops import OpsRunbook

router = APIRouter(prefix="/internal/monitoring", tags=["monitoring analysis"])


def get_ops(services: ServicesDep) -> OpsRunbook:
    return OpsRunbook(services)


OpsDep = Annotated[OpsRunbook, Depends(get_ops)]
DaysQuery = Annotated[float, Query(gt=0, le=90, description="Days back, up to the history's retention.")]
MinutesQuery = Annotated[float, Query(gt=0, le=24 * 60, description="Window length in minutes.")]


@router.get("/memory-trends")
async def memory_trends(ops: OpsDep, days: DaysQuery = 7.0) -> dict[str, Any]:
    return ops.memory_trends(days)


@router.get("/memory-stats")
async def memory_stats(ops: OpsDep) -> dict[str, Any]:
    return ops.memory_stats()


@router.get("/performance")
async def performance(ops: OpsDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return ops.performance(time_window_hours)


@router.get("/performance-analysis")
async def performance_analysis(ops: OpsDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return ops.performance_analysis(time_window_hours)


@router.get("/performance-impact")
async def performance_impact(ops: OpsDep, time_window_hours: HoursQuery = 1.0) -> dict[str, Any]:
    return await ops.performance_impact(time_window_hours)


@router.get("/dependencies")
async def dependencies(ops: OpsDep) -> dict[str, Any]:
    return await ops.dependencies()


@router.get("/config")
async def config(ops: OpsDep) -> dict[str, Any]:
    return ops.config()


@router.get("/status")
async def status(ops: OpsDep) -> dict[str, Any]:
    return ops.status()


@router.get("/recovery-metrics")
async def recovery_metrics(ops: OpsDep, minutes: MinutesQuery = 30.0) -> dict[str, Any]:
    return ops.recovery_metrics(minutes)


@router.get("/post-recovery-check")
async def post_recovery_check(ops: OpsDep, minutes: MinutesQuery = 5.0) -> dict[str, Any]:
    return await ops.post_recovery_check(minutes)


@router.get("/post-maintenance-check")
async def post_maintenance_check(ops: OpsDep, minutes: MinutesQuery = 5.0) -> dict[str, Any]:
    return await ops.post_maintenance_check(minutes)
