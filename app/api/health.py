"""/health answers 200 directly (the template redirected, so ``curl -f`` failed)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from app.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
@router.get("/v1/health", include_in_schema=False)
async def health(services: ServicesDep) -> dict[str, Any]:
    # Cheap on purpose: liveness for load balancers. /internal/monitoring/health checks components.
    return {"status": "healthy", "service": services.settings.otel_service_name,
            "version": services.telemetry.resource.attributes.get("service.version", ""),
            "uptime_seconds": round(time.time() - services.started_at, 3),
            "ai_model_available": services.resilience.breakers["ai_service"].state != "open",
            "redis": services.cache.redis.available if services.cache.redis else None}
