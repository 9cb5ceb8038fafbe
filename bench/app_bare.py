"""The baseline: the service's two hot routes doing the same work, with no telemetry at all.

Same request and response models, API-key security dependencies (open, as the full app runs with no
key), cache key, memory tier, value codec and offline provider (on a miss). What it leaves out is
everything OpenTelemetry: no middleware, no spans, no metric records.

``build_app()`` is plain FastAPI: async handlers and dependencies only. ``build_app(sync_deps=True)``
(``app_bare_sync``) copies the full app's dependency structure as well: a plain ``def`` dependency
handing out the app state (the full app's ``get_services``) and a plain ``def`` API-key check on
top of it (``require_api_key``), which FastAPI runs in its thread pool. The stock benchmark app
(``app_stock``) instruments the plain app, so bare vs stock is the stock instrumentor's cost.
"""

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.cache.codec import decode, encode
from app.cache.keys import cache_key, ttl_for
from app.cache.memory import MemoryTier
from app.services.llm.base import LLMRequest
from app.services.llm.offline import OfflineProvider
from app.services.models import ProcessRequest, ProcessResponse
from app.services.processing import response_fields

VERSION = "0.1.0"
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
_bearer = HTTPBearer(auto_error=False)
_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _state_sync(request: Request) -> Any:
    return request.app.state  # like the full app's get_services: a plain def, run in the thread pool


def _key_sync(state: Annotated[Any, Depends(_state_sync)],
              bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
              header: Annotated[str | None, Depends(_header)]) -> None:
    return None  # like require_api_key with no key configured: open, but the dependencies still run


async def _key_async(bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                     header: Annotated[str | None, Depends(_header)]) -> None:
    return None


def _health(state: Any) -> dict[str, Any]:
    return {"status": "healthy", "service": "bench-bare", "version": VERSION,
            "uptime_seconds": round(time.time() - state.started_at, 3), "ai_model_available": True, "redis": None}


async def _process(body: ProcessRequest, state: Any) -> ProcessResponse:
    start = time.perf_counter()
    key = cache_key(body.operation, body.text, body.options, body.question)
    blob = state.memory.get(key)
    if blob is not None:
        fields = decode(blob)
        fields["metadata"] = {**fields.get("metadata", {}), "cache_tier": "memory"}
        return ProcessResponse(operation=body.operation, **fields, cache_hit=True,
                               processing_time=time.perf_counter() - start, timestamp=datetime.now(UTC).isoformat())
    output = await state.provider.run(LLMRequest(body.operation, body.text, body.question, body.options))
    fields = response_fields(output)  # the same work as the service
    state.memory.set(key, encode(fields, 1000, 6), ttl_for(body.operation))
    return ProcessResponse(operation=body.operation, **fields, cache_hit=False,
                           processing_time=time.perf_counter() - start, timestamp=datetime.now(UTC).isoformat())


def build_app(lifespan: Lifespan | None = None, sync_deps: bool = False) -> FastAPI:
    # FastAPI's native telemetry off, as in the service (which instruments itself): on, it costs a check of
    # the global providers on every request (~15 µs here), and the baseline would be slower than it needs be.
    app = FastAPI(title="bench: bare", version=VERSION, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.memory = MemoryTier(1000, 50 * 1024 * 1024)
    app.state.provider = OfflineProvider()
    app.state.started_at = time.time()
    route = {"response_model": ProcessResponse, "response_model_exclude_none": True}

    if sync_deps:
        @app.get("/health")
        async def health_sync(state: Annotated[Any, Depends(_state_sync)]) -> dict[str, Any]:
            return _health(state)

        @app.post("/v1/text_processing/process", dependencies=[Depends(_key_sync)], **route)
        async def process_sync(body: ProcessRequest, state: Annotated[Any, Depends(_state_sync)]) -> ProcessResponse:
            return await _process(body, state)
    else:
        @app.get("/health")
        async def health() -> dict[str, Any]:
            return _health(app.state)

        @app.post("/v1/text_processing/process", dependencies=[Depends(_key_async)], **route)
        async def process(body: ProcessRequest) -> ProcessResponse:
            return await _process(body, app.state)

    return app


app = build_app()
