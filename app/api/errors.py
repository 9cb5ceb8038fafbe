"""Exception handlers: every failure the client can act on gets a clear status and message."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.limits import BodyTooLarge, too_large_body
from app.resilience.breaker import CircuitOpenError
from app.services.llm.base import LLMBusyError, LLMError, LLMPermanentError

_log = logging.getLogger(__name__)

MAX_ECHO = 200  # characters of a bad input shown back: enough to recognise it, never a whole text
MAX_ERRORS = 20  # errors listed in one 422; the rest are counted


def _short(value: Any) -> Any:
    """A value as given when short; else its start (as compact JSON for structures) and its length."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value), default=str,
                                                          separators=(",", ":"))
    if len(text) <= MAX_ECHO:
        return value if isinstance(value, str) else jsonable_encoder(value)
    return f"{text[:MAX_ECHO]}... ({len(text)} characters in all)"


def _error(error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": error.get("type", "value_error"),
                           "loc": [_short(part) for part in error.get("loc", ())],
                           "msg": _short(str(error.get("msg", "")))}
    if "input" in error:
        out["input"] = _short(error["input"])
    if error.get("ctx"):
        out["ctx"] = {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in error["ctx"].items()}
    return out


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 that says what was wrong (loc, msg, type, the limits in ctx) without echoing a huge input."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    content: dict[str, Any] = {"detail": [_error(e) for e in errors[:MAX_ERRORS]]}
    if len(errors) > MAX_ERRORS:
        content["more_errors"] = len(errors) - MAX_ERRORS
    return JSONResponse(content, status_code=422)


async def _too_large(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return JSONResponse(too_large_body(str(exc.detail)), status_code=413, headers=exc.headers)


def _unavailable(detail: str, retry_after_s: float, **fields: Any) -> JSONResponse:
    retry = max(1, round(retry_after_s))
    return JSONResponse({"detail": detail, **fields, "retry_after_seconds": retry},
                        status_code=503, headers={"Retry-After": str(retry)})


async def _circuit_open(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CircuitOpenError)
    return _unavailable(f"The AI service is unavailable: {exc}. Cached results are still served.",
                        exc.retry_after_s, error="circuit_open", circuit_breaker=exc.name)


async def _llm_busy(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LLMBusyError)
    return _unavailable(f"The service is busy: {exc}. Retry later; cached results are still served.",
                        exc.retry_after_s, error="llm_concurrency_limit", limit=exc.limit)


async def _llm_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LLMError)
    _log.warning("LLM provider failed: %s", exc)
    kind = "llm_bad_response" if isinstance(exc, LLMPermanentError) else "llm_unavailable"
    return JSONResponse({"detail": f"The AI provider failed after retries: {exc}", "error": kind},
                        status_code=502)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(CircuitOpenError, _circuit_open)
    app.add_exception_handler(LLMBusyError, _llm_busy)  # a 503, not LLMError's 502: Starlette takes the closest class
    app.add_exception_handler(LLMError, _llm_error)
