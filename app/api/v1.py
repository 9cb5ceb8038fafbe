"""/v1: text processing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from app.api.deps import ApiKeyDep, services_of
from app.api.errors import ErrorBody
from app.api.streaming import OPENAPI_CONTENT, EventStream, sse, wants_stream
from app.services.models import BatchRequest, BatchResponse, ProcessRequest, ProcessResponse
from app.services.operations import OPERATION_INFO

PREFIX = "/v1/text_processing"
# What a route that calls the provider can answer besides a result (errors.py builds them).
LLM_FAILURES: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorBody, "description": "The AI provider failed after retries"},
    503: {"model": ErrorBody, "description": "A circuit breaker is open, or the LLM concurrency limit is full past "
               "LLM_QUEUE_TIMEOUT_SECONDS (Retry-After says when to try again)"},
}


def install(app: FastAPI) -> None:
    """On the app itself, not through an APIRouter: FastAPI routes an included router's requests through
    one more matching layer (about 25 µs a request here), on the service's hottest routes."""
    route: dict[str, Any] = {"tags": ["text processing"], "dependencies": [ApiKeyDep]}
    results: dict[str, Any] = {"response_model_exclude_none": True, "responses": LLM_FAILURES, **route}
    app.add_api_route(f"{PREFIX}/operations", operations, methods=["GET"], **route)
    app.add_api_route(f"{PREFIX}/process", process, methods=["POST"], response_model=ProcessResponse,
                      **{**results, "responses": {200: {"content": OPENAPI_CONTENT}, **LLM_FAILURES}})
    app.add_api_route(f"{PREFIX}/batch_process", batch_process, methods=["POST"], response_model=BatchResponse,
                      **results)


async def operations() -> dict[str, Any]:
    return {"operations": OPERATION_INFO}


async def process(body: ProcessRequest, request: Request) -> ProcessResponse | Response:
    """The answer, or with ``"stream": true`` (or ``Accept: text/event-stream``) the answer as
    server-sent events (``app.api.streaming``)."""
    # The request, not ServicesDep, on the hot routes: a dependency FastAPI solves costs ~10-30 µs.
    processor = services_of(request).processor
    if wants_stream(body.stream, request.headers):
        return EventStream(sse(await processor.open_stream(body)))
    return await processor.process(body)


async def batch_process(body: BatchRequest, request: Request) -> BatchResponse:
    return await services_of(request).processor.process_batch(body)
