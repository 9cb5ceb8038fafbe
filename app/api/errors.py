"""One error body for every answer that is not a success, and the handlers that build it.

Every 4xx (validation included) and every 5xx the service writes itself is an ``ErrorBody``: ``detail``
is one line a person can act on, ``error`` a stable code a program can branch on, ``errors`` the
field-by-field list of a validation failure. docs/API.md lists the codes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from app.api.limits import BodyTooLarge, too_large_body
from app.resilience.breaker import CircuitOpenError
from app.services.llm.base import LLMBusyError, LLMError, LLMPermanentError
from app.services.models import UNION_TAGS

_log = logging.getLogger(__name__)

MAX_ECHO = 200  # characters of a bad input shown back: enough to recognise it, never a whole text
MAX_ERRORS = 20  # errors listed in one 422; the rest are counted

# The code of an HTTPException raised without one (the guards, FastAPI's and Starlette's own answers).
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "request_too_large", 415: "unsupported_media_type",
         422: "invalid_request", 429: "too_many_requests", 503: "unavailable"}


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field's path.")
    msg: str
    type: str = Field(description="Pydantic's error type, e.g. string_too_short, missing, extra_forbidden.")
    input: Any = Field(default=None, description="The value given, cut to its first 200 characters.")
    ctx: dict[str, Any] | None = Field(default=None, description="The limit broken, e.g. {'min_length': 10}.")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="allow")  # some codes add context, e.g. retry_after_seconds

    detail: str = Field(description="What was wrong, in one line a person can act on.")
    error: str = Field(description="A stable code: invalid_request, unauthorized, forbidden, not_found, ...")
    errors: list[FieldError] | None = Field(default=None, description="Validation failures, field by field.")
    more_errors: int | None = Field(default=None, description="Validation failures beyond the first 20.")


class ApiError(HTTPException):
    """An HTTPException with its own code (the default is CODES by status)."""

    def __init__(self, status_code: int, detail: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail, headers=headers)
        self.code = code


def error_response(status: int, detail: str, code: str, headers: Mapping[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": code, **extra}, status_code=status, headers=headers)


def _short(value: Any) -> Any:
    """A value as given when short; else its start (as compact JSON for structures) and its length."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value), default=str,
                                                          separators=(",", ":"))
    if len(text) <= MAX_ECHO:
        return value if isinstance(value, str) else jsonable_encoder(value)
    return f"{text[:MAX_ECHO]}... ({len(text)} characters in all)"


def _location(loc: tuple[Any, ...]) -> list[str | int]:
    """The location as the client wrote the request: without the operation tag pydantic adds at a union
    (``body.qa.question`` is the client's ``question``), long keys cut."""
    out: list[str | int] = []
    for part in loc:
        if part in UNION_TAGS and out and (out[-1] == "body" or isinstance(out[-1], int)):
            continue
        out.append(part if isinstance(part, int) else str(_short(str(part))))
    return out


def _error(error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": error.get("type", "value_error"), "loc": _location(tuple(error.get("loc", ()))),
                           "msg": _short(str(error.get("msg", "")))}
    if "input" in error:
        out["input"] = _short(error["input"])
    if error.get("ctx"):
        out["ctx"] = {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in error["ctx"].items()}
    return out


def summary(errors: list[dict[str, Any]]) -> str:
    """``field: message`` for each error, the way a form shows it: ``text: String should have ...``."""
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path", "header"))
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 that says what was wrong (loc, msg, type, the limits in ctx) without echoing a huge input."""
    assert isinstance(exc, RequestValidationError)
    errors = [_error(e) for e in exc.errors()]
    shown = errors[:MAX_ERRORS]
    extra: dict[str, Any] = {"errors": shown}
    if len(errors) > MAX_ERRORS:
        extra["more_errors"] = len(errors) - MAX_ERRORS
    detail = summary(shown) + (f"; and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else "")
    return error_response(422, detail or "the request is not valid", "invalid_request", **extra)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = getattr(exc, "code", None) or CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, str(exc.detail), code, headers=exc.headers)


async def _too_large(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    return JSONResponse(too_large_body(str(exc.detail)), status_code=413, headers=exc.headers)


def _unavailable(detail: str, retry_after_s: float, error: str, **fields: Any) -> JSONResponse:
    retry = max(1, round(retry_after_s))
    return error_response(503, detail, error, headers={"Retry-After": str(retry)}, **fields,
                          retry_after_seconds=retry)


async def _circuit_open(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CircuitOpenError)
    return _unavailable(f"The AI service is unavailable: {exc}. Cached results are still served.",
                        exc.retry_after_s, error="circuit_open", circuit_breaker=exc.name)


async def _llm_busy(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LLMBusyError)
    return _unavailable(f"The service is busy: {exc}. Retry later; cached results are still served.",
                        exc.retry_after_s, error="llm_concurrency_limit", limit=exc.limit)


def llm_failure(exc: LLMError, when: str = "after retries") -> dict[str, str]:
    """The error body of a provider failure (a 502, or a streamed answer's error event), logged."""
    _log.warning("LLM provider failed %s: %s", when, exc)
    kind = "llm_bad_response" if isinstance(exc, LLMPermanentError) else "llm_unavailable"
    return {"detail": f"The AI provider failed {when}: {exc}", "error": kind}


async def _llm_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LLMError)
    return JSONResponse(llm_failure(exc), status_code=502)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(CircuitOpenError, _circuit_open)
    app.add_exception_handler(LLMBusyError, _llm_busy)  # a 503, not LLMError's 502: Starlette takes the closest class
    app.add_exception_handler(LLMError, _llm_error)
