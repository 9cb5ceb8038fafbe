"""create_app(): telemetry first (the middleware must wrap the app), resources in lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api import alerts_ops, cache, contract, errors, health, monitoring, monitoring_ops, resilience, v1
from app.api.audit import AuditMiddleware
from app.api.deps import OneSnapshotDep, OperatorKeyDep
from app.api.limits import BodyLimit, BodySizeLimitMiddleware
from app.services.runtime import build_services
from app.settings import Settings
from instrumentation import Telemetry, TelemetryConfig, build_telemetry
from instrumentation.auto import instrument_fastapi
from instrumentation.logs import configure_logging
from instrumentation.redact import redact_url

VERSION = "0.1.0"
_log = logging.getLogger("app")


def telemetry_config(settings: Settings) -> TelemetryConfig:
    endpoint = settings.otel_exporter_otlp_endpoint or None
    if endpoint is None and settings.enable_external_monitoring:
        endpoint = ""  # export on, to the SDK's default endpoint
    return TelemetryConfig(
        service_name=settings.otel_service_name, service_version=VERSION, environment=settings.environment,
        otlp_endpoint=endpoint, otlp_protocol=settings.otel_exporter_otlp_protocol,
        history_interval_s=settings.metrics_export_interval,
        history_retention_s=settings.cache_monitoring_retention_hours * 3600.0,
    )


def create_app(settings: Settings | None = None, telemetry: Telemetry | None = None) -> FastAPI:
    start = time.perf_counter()
    settings = settings or Settings()
    config_load_s = time.perf_counter() - start
    configure_logging(settings.log_level, settings.monitoring_log_level)
    telemetry = telemetry or build_telemetry(telemetry_config(settings))
    telemetry.instruments.config_load.record(config_load_s, {"llm_obs.config.source": "environment"})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, telemetry)
        app.state.services = services
        await services.start()
        if settings.enable_monitoring:
            telemetry.start()
        _log.info("started: provider=%s preset=%s redis=%s otlp=%s", settings.llm_provider,
                  settings.resilience_preset, redact_url(settings.redis_url) if settings.redis_enabled else "disabled",
                  telemetry.export_status[0].endpoint if telemetry.export_status else "off")
        try:
            yield
        finally:
            await services.aclose()
            telemetry.shutdown()

    # FastAPI's native telemetry off: instrument_fastapi below traces and measures every request once, and
    # the native layer would add its own spans under any global provider (and a check per request).
    app = FastAPI(title="LLM text processing service", version=VERSION, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    health.install(app)
    v1.install(app)
    # The operator surface: guarded here, where it is included, so no /internal endpoint can miss it.
    for router in (alerts_ops.router, monitoring.router, monitoring_ops.router, resilience.router, cache.router):
        app.include_router(router, dependencies=[OperatorKeyDep, OneSnapshotDep])
    errors.install(app)
    contract.document(app, settings, extra_models=resilience.BODY_MODELS)
    app.add_middleware(BodySizeLimitMiddleware, default=BodyLimit(
        settings.max_request_bytes, "MAX_REQUEST_BYTES", "; a batch takes at most 50 texts of 10000 characters"),
        paths={"/internal/cache/restore": BodyLimit(settings.max_restore_bytes, "MAX_RESTORE_BYTES")})
    app.add_middleware(AuditMiddleware)  # outermost of ours: it sees the 401s and 413s too
    instrument_fastapi(app, telemetry, settings.http_instrumentation)
    return app
