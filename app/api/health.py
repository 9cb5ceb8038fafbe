"""/health answers 200 directly (the template redirected, so ``curl -f`` failed)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request

from app.api.deps import services_of


def install(app: FastAPI) -> None:
    """On the app itself, not through an APIRouter: FastAPI routes an included router's requests through
    one more matching layer (about 25 µs a request here), on the route load balancers call most."""
    app.add_api_route("/health", health, methods=["GET"], tags=["health"])
    app.add_api_route("/v1/health", health, methods=["GET"], tags=["health"], include_in_schema=False)


async def health(request: Request) -> dict[str, Any]:
    # Cheap on purpose: liveness for load balancers. /internal/monitoring/health checks components.
    # (No ServicesDep: a dependency for FastAPI to solve costs more than the rest of this answer.)
    services = services_of(request)
    return {"status": "healthy", "service": services.settings.otel_service_name,
            "version": services.telemetry.resource.attributes.get("service.version", ""),
            "uptime_seconds": round(time.time() - services.started_at, 3),
            "ai_model_available": services.resilience.breakers["ai_service"].state != "open",
            "redis": services.cache.redis.available if services.cache.redis else None}
