"""Automatic instrumentation (FastAPI, Redis, HTTPX) bound to explicit providers, per app and client.

Per-app and per-client instrumentation keeps no global state, so several apps (tests, workers) each
report to their own providers.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor

from instrumentation._semconv import ensure_stable_semconv
from instrumentation.providers import Telemetry

ensure_stable_semconv()


def instrument_fastapi(app: FastAPI, telemetry: Telemetry) -> None:
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
    RedisInstrumentor.instrument_client(client, tracer_provider=telemetry.tracer_provider)


def instrument_httpx(client: httpx.AsyncClient, telemetry: Telemetry) -> None:
    HTTPXClientInstrumentor.instrument_client(
        client, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
