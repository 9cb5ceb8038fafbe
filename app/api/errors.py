"""Exception handlers: every failure the client can act on gets a clear status and message."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.resilience.breaker import CircuitOpenError
from app.services.llm.base import LLMError, LLMPermanentError

_log = logging.getLogger(__name__)


async def _circuit_open(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CircuitOpenError)
    retry = max(1, round(exc.retry_after_s))
    return JSONResponse(
        {"detail": f"The AI service is unavailable: {exc}. Cached results are still served.",
         "error": "circuit_open", "circuit_breaker": exc.name, "retry_after_seconds": retry},
        status_code=503, headers={"Retry-After": str(retry)})


async def _llm_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LLMError)
    _log.warning("LLM provider failed: %s", exc)
    kind = "llm_bad_response" if isinstance(exc, LLMPermanentError) else "llm_unavailable"
    return JSONResponse({"detail": f"The AI provider failed after retries: {exc}", "error": kind},
                        status_code=502)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CircuitOpenError, _circuit_open)
    app.add_exception_handler(LLMError, _llm_error)
