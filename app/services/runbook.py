"""The runbook answers: gathers live component state and measurements, hands them to the pure
report functions. One place, so /health, overview and alerts cannot disagree."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from app.cache.tiered import TieredCache
from app.infra.redis import round_trip_ms
from app.monitoring import health as h
from app.monitoring import prometheus_window, reports
from app.monitoring.alerts import Alert, by_severity
from app.monitoring.cluster import process_name
from app.monitoring.kpis import KPI
from app.monitoring.maintenance import Maintenance
from app.monitoring.measurements import Measurements, measure
from app.monitoring.monitor import Monitor
from app.monitoring.prometheus_source import PrometheusSource, PrometheusUnavailable, PrometheusWindow
from app.monitoring.windows import Window
from app.resilience.manager import Resilience
from app.services.genai import GenAIClient
from app.settings import Settings
from instrumentation import Telemetry

OVERVIEW_WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Sourced:
    """A window and where it came from."""

    window: Window
    prometheus: PrometheusWindow | None = None  # it came from Prometheus
    fallback: str | None = None  # why Prometheus, the configured backend, did not give it


class Inputs(Protocol):
    """What the runbooks read, and all they may: the live components, handed over by whoever built
    them (the app's ``Services`` has them all), so a derivation depends on what it reads and not on
    the composition root that wires everything."""

    settings: Settings
    telemetry: Telemetry
    cache: TieredCache
    llm: GenAIClient
    resilience: Resilience
    monitor: Monitor
    catalog: tuple[KPI, ...]
    maintenance: Maintenance
    prometheus: PrometheusSource | None
    started_at: float


class Runbook:
    def __init__(self, inputs: Inputs) -> None:
        self.s = inputs

    async def redis_latency_ms(self) -> float | None:
        return await round_trip_ms(self.s.cache.redis)

    async def components(self, m: Measurements) -> dict[str, dict[str, Any]]:
        settings = self.s.settings
        latency = await self.redis_latency_ms()
        redis_status = self.s.cache.redis.status() if self.s.cache.redis else {}
        memory = reports.memory_usage(m, settings.cache_memory_max_bytes, settings.alert_memory_warning_mb,
                                      settings.alert_memory_critical_mb)
        cache_status = {"ok": "healthy", "warning": "degraded", "critical": "unhealthy"}[memory["status"]]
        telemetry = self.s.telemetry
        return {
            "redis": h.redis_health(redis_status, latency, settings.redis_enabled),
            "cache": {"status": cache_status, "tiers": self.s.cache.status(), "memory_usage": memory,
                      "message": "memory tier serving" + ("" if latency is not None else " alone")},
            "ai_service": {**h.breakers_health({"ai_service": m.breaker_states.get("ai_service", "closed")}),
                           "provider": self.s.llm.provider.name, "model": self.s.llm.provider.model},
            "circuit_breakers": h.breakers_health(m.breaker_states),
            "telemetry": h.telemetry_health([e.as_dict() for e in telemetry.export_status],
                                            len(telemetry.history), telemetry.history.last_error),
        }

    def measure(self, seconds: float) -> Measurements:
        return self.s.monitor.measure(seconds)

    def active_alerts(self) -> list[Alert]:
        return self.s.monitor.evaluate_alerts()

    async def window(self, seconds: float) -> Sourced:
        """From the configured backend: Prometheus when it answers, else this worker's (or Redis') view."""
        source = self.s.prometheus
        if source is None:
            return Sourced(self.s.monitor.window(seconds))
        try:
            found = await source.window(seconds)
        except PrometheusUnavailable as exc:
            return Sourced(self.s.monitor.window(seconds), fallback=str(exc))
        return Sourced(found.window, found)

    def scope(self, seconds: float, sourced: Sourced) -> dict[str, Any]:
        """Whose measurements answer, and from which backend (and why not the configured one)."""
        found = sourced.prometheus
        if found is not None:
            return prometheus_window.scope(found.instances, self.s.monitor.instance, process_name(),
                                           found.url, found.job, found.query_ms)
        backend: dict[str, Any] = {"configured": self.s.settings.monitoring_query_backend, "used": "local"}
        if sourced.fallback is not None:
            backend["reason"] = sourced.fallback
        return {**self.s.monitor.scope(seconds), "backend": backend}

    async def _state(self, seconds: float) -> tuple[Sourced, Measurements, list[Alert], dict[str, Any], h.Status]:
        """The window, its measurements, the active alerts, component health and the verdict."""
        sourced = await self.window(seconds)
        m = measure(sourced.window)
        active = self.active_alerts()
        components = await self.components(m)
        return sourced, m, active, components, h.overall(components, by_severity(active)["critical"])

    async def health(self) -> dict[str, Any]:
        start = time.perf_counter()
        sourced, _m, active, components, status = await self._state(OVERVIEW_WINDOW_SECONDS)
        return {"overall_status": status, "status": status, "timestamp": reports.iso(time.time()),
                "components": components, "active_alerts": by_severity(active),
                "maintenance": await self.s.maintenance.state(),
                "scope": self.scope(OVERVIEW_WINDOW_SECONDS, sourced),
                "check_duration_ms": round((time.perf_counter() - start) * 1000, 3)}

    async def overview(self) -> dict[str, Any]:
        sourced, m, active, components, status = await self._state(OVERVIEW_WINDOW_SECONDS)
        return {
            "timestamp": reports.iso(time.time()),
            "uptime_seconds": round(time.time() - self.s.started_at, 3),
            "window_seconds": OVERVIEW_WINDOW_SECONDS,
            "units": reports.UNITS,
            "system_health": reports.system_health(m, status, active),
            "cache_performance": {
                "stats": reports.cache_stats(m),
                "memory_usage": components["cache"]["memory_usage"],
                "redis": components["redis"],
            },
            "ai_service": reports.ai_metrics(m),
            "resilience": {"preset": self.s.resilience.policy.name, "circuit_breakers": m.breaker_states,
                           "open_circuit_breakers": m.open_breakers, "retries": m.retries},
            "alerts": {"total_active": len(active), "by_severity": by_severity(active)},
            "components": {name: c["status"] for name, c in components.items()},
            "maintenance": await self.s.maintenance.state(),
            "scope": self.scope(OVERVIEW_WINDOW_SECONDS, sourced),
        }

    async def metrics(self, hours: float) -> dict[str, Any]:
        seconds = hours * 3600
        sourced, m, active, components, status = await self._state(seconds)
        return {**reports.metrics_report(hours, sourced.window, m, self.s.monitor.trend(seconds), status, active,
                                         components["cache"]["memory_usage"]), "scope": self.scope(seconds, sourced)}

    def alerts(self) -> dict[str, Any]:
        active = self.active_alerts()
        book = self.s.monitor.alerts
        return reports.alerts_summary(active, list(book.resolved), book.evaluated_at)

    def cache_stats(self, hours: float = 1.0) -> dict[str, Any]:
        m = self.measure(hours * 3600)
        settings = self.s.settings
        return {
            "performance": {**reports.cache_stats(m), "window_hours": hours},
            "memory_usage": reports.memory_usage(m, settings.cache_memory_max_bytes,
                                                 settings.alert_memory_warning_mb, settings.alert_memory_critical_mb),
            "tiers": self.s.cache.status(),
            "redis_metrics": reports.redis_metrics(m),
            "units": reports.UNITS,
        }

    def circuit_breakers(self) -> dict[str, Any]:
        return {name: b.as_dict() for name, b in self.s.resilience.breakers.items()}
