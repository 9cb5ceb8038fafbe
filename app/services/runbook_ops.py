"""The monitoring analysis answers: gathers what the service measured and the live state of its
components, hands them to the pure functions of ``app.monitoring`` (memory, analysis, impact,
dependencies, checks)."""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider

from app.monitoring import analysis, checks, dependencies, impact, memory, reports
from app.monitoring.dependencies import Probe
from app.monitoring.kpis import ALERT_WINDOW_SECONDS
from app.monitoring.measurements import measure
from app.services.runbook import Inputs, Runbook
from instrumentation.redact import redact_url

HEALTH_EXPECTED_MS = 100.0  # the guide's expected /health response time
_PROBE_KEY = "monitoring:post-check:probe"
# Timed once per process (the primitives' cost does not change while it runs), off the event loop.
_COSTS: weakref.WeakKeyDictionary[MeterProvider, impact.TelemetryCosts] = weakref.WeakKeyDictionary()


class OpsRunbook:
    def __init__(self, inputs: Inputs) -> None:
        self.s = inputs
        self.runbook = Runbook(inputs)

    def _threshold(self, name: str) -> float:
        return analysis.threshold_of(self.s.catalog, name)

    # -- memory
    def memory_trends(self, days: float) -> dict[str, Any]:
        history = self.s.telemetry.history
        latest = history.latest()
        start = latest.timestamp - days * 86400
        points = memory.memory_points(history.through(start, latest))
        settings = self.s.settings
        cache_limits = {"warning": settings.alert_memory_warning_mb, "critical": settings.alert_memory_critical_mb,
                        "max": settings.cache_memory_max_bytes / 1e6}
        return memory.memory_trends(points, days, self._threshold("MemoryUsageHigh"), cache_limits)

    def memory_stats(self) -> dict[str, Any]:
        history, settings, book = self.s.telemetry.history, self.s.settings, self.s.monitor.alerts
        window = self.s.monitor.window(ALERT_WINDOW_SECONDS)
        kept = history.snapshots()
        footprint = memory.MonitoringFootprint(
            snapshots=len(kept), history_bytes=history.memory_bytes(),
            series=len(window.new.values) + len(window.new.histograms), interval_s=history.interval_s,
            retention_s=history.retention_s, oldest=kept[0].timestamp if kept else None,
            newest=kept[-1].timestamp if kept else None, alerts_active=len(book.active),
            alerts_resolved=len(book.resolved), alerts_resolved_limit=book.resolved.maxlen or 0)
        return memory.memory_stats(measure(window), self.s.cache.status(), settings.cache_memory_max_bytes,
                                   settings.alert_memory_warning_mb, settings.alert_memory_critical_mb,
                                   self._threshold("MemoryUsageHigh"), footprint)

    # -- performance
    def performance(self, hours: float) -> dict[str, Any]:
        window = self.s.monitor.window(hours * 3600)
        return analysis.performance(self.s.catalog, window, measure(window), reports.by_route(window))

    def performance_analysis(self, hours: float) -> dict[str, Any]:
        window = self.s.monitor.window(hours * 3600)
        return analysis.performance_analysis(self.s.catalog, window, measure(window),
                                             reports.by_route(window))

    async def performance_impact(self, hours: float) -> dict[str, Any]:
        telemetry = self.s.telemetry
        start = time.perf_counter()
        latest = telemetry.history.latest()  # what the history thread does every interval
        collect_ms = (time.perf_counter() - start) * 1000
        window = self.s.monitor.window(hours * 3600, latest)
        costs = _COSTS.get(telemetry.meter_provider)
        if costs is None:
            exported = bool(telemetry.export_status)
            costs = await asyncio.to_thread(impact.measure_costs, telemetry.resource,
                                            telemetry.tracer_provider.sampler, exported, telemetry.metric_readers)
            _COSTS[telemetry.meter_provider] = costs
        return impact.impact_report(costs, impact.request_telemetry(window), window, collect_ms,
                                    telemetry.history.interval_s)

    # -- dependencies and configuration
    async def dependencies(self) -> dict[str, Any]:
        probes = await asyncio.gather(*(dependencies.guarded(name, probe) for name, probe in (
            ("redis", self._redis()), ("collector", self._collector()), ("prometheus", self._prometheus()),
            ("llm_provider", self._llm()), ("webhook", self._webhook()))))
        return dependencies.dependencies_report(probes)

    async def _redis(self) -> Probe:
        redis = self.s.cache.redis
        if redis is None:
            return dependencies.not_configured("redis", "REDIS_ENABLED=true and REDIS_URL")
        start = time.perf_counter()
        latency = await self.runbook.redis_latency_ms()
        status = redis.status()
        return Probe("redis", True, status["url"], reachable=latency is not None,
                     latency_ms=round(latency if latency is not None else (time.perf_counter() - start) * 1000, 3),
                     last_error=None if latency is not None else status["last_error"] or "no answer to PING",
                     detail={"failures": status["failures"], "kpi_ms": self._threshold("RedisLatencyHigh")})

    async def _collector(self) -> Probe:
        settings, exports = self.s.settings, self.s.telemetry.export_status
        if not exports:
            return dependencies.not_configured("collector", "OTEL_EXPORTER_OTLP_ENDPOINT or "
                                                            "ENABLE_EXTERNAL_MONITORING=true")
        grpc = settings.otel_exporter_otlp_protocol == "grpc"
        url = settings.otel_exporter_otlp_endpoint or ("http://localhost:4317" if grpc else "http://localhost:4318")
        host, port = dependencies.host_port(url, 4317 if grpc else 4318)
        probe = await dependencies.probe_tcp("collector", redact_url(url), host, port)
        failing = [e for e in exports if e.healthy is False]
        probe.detail = {"protocol": settings.otel_exporter_otlp_protocol, "ready": not failing,
                        "exporters": [e.as_dict() for e in exports]}
        if probe.reachable and failing:
            probe.last_error = f"{failing[0].signal} export: {failing[0].last_error or 'exporter returned failure'}"
        return probe

    async def _prometheus(self) -> Probe:
        url = self.s.settings.prometheus_url
        if not url:
            return dependencies.not_configured("prometheus", "PROMETHEUS_URL (e.g. http://localhost:9090)")
        return await dependencies.probe_http("prometheus", "GET", f"{url}/-/ready",
                                             redact_url(url) + "/-/ready")

    async def _llm(self) -> Probe:
        provider, settings = self.s.llm.provider, self.s.settings
        if settings.llm_provider == "offline":
            return Probe("llm_provider", True, "offline", reachable=True,
                         detail={"provider": provider.name, "model": provider.model,
                                 "message": "in-process deterministic provider: nothing to reach"})
        # Any answer below 500 (401 without a key, 404 for the bare base URL) means the API is there.
        probe = await dependencies.probe_http("llm_provider", "GET", settings.llm_base_url,
                                              redact_url(settings.llm_base_url),
                                              ready_statuses=range(200, 500))
        probe.detail.update(provider=provider.name, model=provider.model)
        return probe

    async def _webhook(self) -> Probe:
        url = self.s.settings.monitoring_webhook_url
        if not url:
            return dependencies.not_configured("webhook", "MONITORING_WEBHOOK_URL")
        # HEAD only: a receiver that refuses the method (405) is still there, and nothing is notified.
        probe = await dependencies.probe_http("webhook", "HEAD", url, redact_url(url, hide_path=True),
                                              ready_statuses=range(200, 500))
        notifier = getattr(self.s, "notifier", None)
        if notifier is not None:
            probe.detail["last_delivery"] = notifier.status().get("last_delivery")
        return probe

    def config(self) -> dict[str, Any]:
        settings, telemetry = self.s.settings, self.s.telemetry
        exports = telemetry.export_status
        values = settings.model_dump()
        effective = {
            "service_name": telemetry.resource.attributes.get("service.name", ""),
            "otlp_export": bool(exports),
            "otlp_endpoint": redact_url(exports[0].endpoint) if exports else "",
            "otlp_protocol": settings.otel_exporter_otlp_protocol if exports else "",
            "traces_sampler": telemetry.tracer_provider.sampler.get_description(),
            "metric_export_interval_ms": _env_number("OTEL_METRIC_EXPORT_INTERVAL",
                                                     settings.metrics_export_interval * 1000),
            "history_interval_seconds": telemetry.history.interval_s,
            "history_retention_hours": telemetry.history.retention_s / 3600,
            "alert_window_seconds": ALERT_WINDOW_SECONDS,
        }
        notes = dependencies.config_notes(values, os.environ, settings.cache_memory_max_bytes / 1e6,
                                          ALERT_WINDOW_SECONDS)
        return dependencies.config_report(values, settings.model_fields_set, os.environ, effective, notes)

    # -- is monitoring collecting, are we back
    def status(self) -> dict[str, Any]:
        history, settings = self.s.telemetry.history, self.s.settings
        kept = history.snapshots()
        return checks.monitoring_status(settings.enable_monitoring, history.running, len(kept),
                                        kept[-1].timestamp if kept else None, time.time(), history.interval_s,
                                        history.retention_s, history.last_error,
                                        [e.as_dict() for e in self.s.telemetry.export_status])

    def recovery_metrics(self, minutes: float) -> dict[str, Any]:
        slices = self.s.monitor.trend(minutes * 60, points=max(1, round(minutes)))
        states = {name: b.state for name, b in self.s.resilience.breakers.items()}
        return checks.recovery_report(slices, time.time(), minutes, self._threshold("ApiErrorRateHigh"),
                                      self._threshold("ApiLatencyP95High"), states)

    async def _checks(self, minutes: float) -> list[dict[str, Any]]:
        start = time.perf_counter()
        await asyncio.sleep(0)  # one trip through the event loop: what /health waits for at least
        lag_ms = (time.perf_counter() - start) * 1000
        redis = self.s.cache.redis
        latency = await self.runbook.redis_latency_ms()
        m = self.s.monitor.measure(minutes * 60)
        return [
            checks.liveness_check(lag_ms, HEALTH_EXPECTED_MS, time.time() - self.s.started_at),
            checks.redis_check(redis is not None, latency, redis.status() if redis else {}),
            checks.breakers_check({name: b.state for name, b in self.s.resilience.breakers.items()}),
            checks.error_rate_check(m, self._threshold("ApiErrorRateHigh")),
            checks.critical_alerts_check(self.s.monitor.evaluate_alerts()),
            checks.telemetry_check([e.as_dict() for e in self.s.telemetry.export_status]),
            checks.cache_check(self._memory_round_trip(), latency is not None, m),
        ]

    def _memory_round_trip(self) -> bool:
        """Store and read back a value in the memory tier: the tier that serves whatever Redis does."""
        tier, blob = self.s.cache.memory, f"{time.time()}".encode()
        tier.set(_PROBE_KEY, blob, 5)
        try:
            return tier.get(_PROBE_KEY) == blob
        finally:
            tier.delete(_PROBE_KEY)

    async def post_recovery_check(self, minutes: float) -> dict[str, Any]:
        return checks.checks_report("post-recovery", await self._checks(minutes), time.time(),
                                    window_minutes=minutes)

    async def post_maintenance_check(self, minutes: float) -> dict[str, Any]:
        results = await self._checks(minutes)
        maintenance = getattr(self.s, "maintenance", None)
        state: dict[str, Any] = await maintenance.state() if maintenance is not None else {"enabled": False}
        report = checks.checks_report("post-maintenance", results, time.time(), window_minutes=minutes,
                                      maintenance=state)
        if state.get("enabled"):
            report["next_step"] = ("maintenance mode is still on: POST /internal/monitoring/maintenance-mode/disable"
                                   if report["passed"] else "fix the failed checks before disabling maintenance mode")
        return report


def _env_number(name: str, default: float) -> float | str:
    """The variable as a number; as written when it is not one (the config notes say so)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        return raw
