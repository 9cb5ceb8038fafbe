"""Automatic instrumentation (HTTP server, Redis, HTTPX) bound to explicit providers, per app and client.

Redis is ours (``instrumentation.redis_spans``), not the contrib instrumentor: its pipeline spans were named
by every command concatenated and lacked ``db.operation.name`` and ``db.namespace``.

Per-app and per-client instrumentation keeps no global state, so several apps (tests, workers) each
report to their own providers.

The HTTP server side has three modes (``HTTP_INSTRUMENTATION``):

- ``lean`` (default): ``instrumentation.asgi.LeanHTTPMiddleware``, one server span and one duration
  record per request, what DESIGN.md's telemetry budget allows;
- ``stock``: the contrib ``FastAPIInstrumentor`` (per-message spans excluded), for whoever needs
  something only it does (custom request/response header capture, server request hooks);
- ``off``: no HTTP server spans or metrics (a proxy or mesh measures HTTP); Redis, HTTPX, GenAI and
  the project's instruments still report.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.trace import Span
from starlette.types import ASGIApp

from instrumentation._semconv import ensure_stable_semconv
from instrumentation.access import AccessLogMiddleware
from instrumentation.asgi import LeanHTTPMiddleware
from instrumentation.providers import Telemetry
from instrumentation.redact import redact_url
from instrumentation.redis_spans import instrument_client as instrument_redis_client

ensure_stable_semconv()

HttpMode = Literal["lean", "stock", "off"]


def instrument_fastapi(app: FastAPI, telemetry: Telemetry, mode: HttpMode = "lean") -> None:
    if mode != "lean":  # the lean middleware writes the access record itself
        app.add_middleware(AccessLogMiddleware)
    if mode == "off":
        return
    if mode == "stock":
        _instrument_stock(app, telemetry)
        return
    build_stack = app.build_middleware_stack

    def build_instrumented_stack() -> ASGIApp:
        # Outermost, outside ServerErrorMiddleware: the 500 it answers for an unhandled exception is
        # measured, and its log line is written inside the span (with the trace id).
        return LeanHTTPMiddleware(build_stack(), telemetry.tracer_provider, telemetry.meter_provider)

    setattr(app, "build_middleware_stack", build_instrumented_stack)  # noqa: B010 (a method, replaced)
    app.middleware_stack = None  # built on the first request, with ours around it


def _instrument_stock(app: FastAPI, telemetry: Telemetry) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        # OTEL_PYTHON_FASTAPI_EXCLUDED_URLS is honoured by the instrumentor when this is None.
        excluded_urls=os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS"),
        # The per-message ASGI send/receive spans triple the span count and tell nothing.
        exclude_spans=["receive", "send"],
    )


def instrument_redis(client: Any, telemetry: Telemetry) -> None:
    """Client spans on the semconv database conventions, never a command's arguments (``redis_spans``)."""
    instrument_redis_client(client, telemetry.tracer_provider)


def instrument_httpx(client: httpx.AsyncClient, telemetry: Telemetry, secret_path: bool = False) -> None:
    """Client spans carry ``url.full`` masked by ``instrumentation.redact``; ``secret_path``: the URL's
    path is a credential too (webhook URLs often are)."""

    async def mask_url(span: Span, request: Any) -> None:
        span.set_attribute("url.full", redact_url(str(request.url), hide_path=secret_path))

    HTTPXClientInstrumentor.instrument_client(
        client, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider,
        request_hook=mask_url)
