"""The resources of one app, built in ``lifespan`` and handed to the routers as typed state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.metrics import Observation

from app.cache.memory import MemoryTier
from app.cache.tiered import TieredCache
from app.infra.redis import RedisTier
from app.monitoring.alert_store import AlertRecord, AlertStore, new_instance_id
from app.monitoring.alerts import Alert, AlertBook
from app.monitoring.cluster import ClusterView
from app.monitoring.exposition import render
from app.monitoring.kpis import KPI, build_catalog
from app.monitoring.maintenance import Maintenance
from app.monitoring.monitor import Monitor
from app.monitoring.prometheus_source import PrometheusSource
from app.monitoring.prometheus_window import job_of
from app.monitoring.pushgateway import PushgatewayPusher
from app.monitoring.system import memory_limit_bytes, rss_bytes
from app.notify import WebhookNotifier, event
from app.resilience.manager import Resilience
from app.resilience.presets import policy_for
from app.services.genai import GenAIClient
from app.services.genai_content import ContentCapture, load_redactor, parse_mode
from app.services.llm.base import OPERATIONS, LLMProvider, LLMTransientError
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.llm.offline import OfflineProvider
from app.services.processing import TextProcessor
from app.settings import Settings
from instrumentation import Telemetry
from instrumentation.auto import instrument_httpx, instrument_redis
from instrumentation.instruments import MEMORY_LIMIT, PROCESS_MEMORY
from instrumentation.scope import scoped_tracer
from instrumentation.snapshot import Snapshot

_log = logging.getLogger("app.monitoring")
AlertEvent = Literal["alert.fired", "alert.resolved"]


@dataclass
class Services:
    settings: Settings
    telemetry: Telemetry
    cache: TieredCache
    resilience: Resilience
    llm: GenAIClient
    processor: TextProcessor
    monitor: Monitor
    catalog: tuple[KPI, ...]
    alert_store: AlertStore
    notifier: WebhookNotifier
    maintenance: Maintenance
    report_alert: Callable[[AlertRecord, AlertEvent], None]
    pusher: PushgatewayPusher | None = None
    started_at: float = field(default_factory=time.time)
    cluster: ClusterView | None = None  # the other workers' and replicas' snapshots, through Redis
    prometheus: PrometheusSource | None = None  # MONITORING_QUERY_BACKEND=prometheus: windows from there

    async def start(self) -> None:
        """Background tasks that need the running event loop."""
        await self.alert_store.start()
        await self.notifier.start()
        if self.cluster is not None:
            self.cluster.start()
        if self.pusher is not None:
            self.pusher.start()

    async def aclose(self) -> None:
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.leave)  # its last counts stay in the others' windows
        if self.pusher is not None:
            await self.pusher.aclose()
        if self.prometheus is not None:
            await self.prometheus.aclose()
        await self.notifier.aclose()
        self.alert_store.refresh(list(self.monitor.alerts.active.values()))  # how long they had fired
        await self.alert_store.aclose()  # before the cache closes the Redis client it writes with
        await self.llm.provider.aclose()
        await self.cache.aclose()


def build_provider(settings: Settings, telemetry: Telemetry) -> LLMProvider:
    if settings.llm_provider == "openai":
        from app.services.llm.openai_compat import OpenAICompatibleProvider

        provider = OpenAICompatibleProvider(settings.llm_base_url, settings.llm_model, settings.llm_api_key,
                                            settings.llm_timeout_seconds,
                                            estimate_tokens=settings.llm_estimate_tokens)
        instrument_httpx(provider.client, telemetry)
        return provider
    return OfflineProvider(estimate_tokens=settings.llm_estimate_tokens)


def build_services(settings: Settings, telemetry: Telemetry) -> Services:
    instruments = telemetry.instruments
    redis = None
    if settings.redis_enabled:
        redis = RedisTier(settings.redis_url, settings.redis_timeout_seconds,
                          settings.redis_retry_interval_seconds, instruments)
        instrument_redis(redis.client, telemetry)
    cache = TieredCache(MemoryTier(settings.cache_memory_max_entries, settings.cache_memory_max_bytes),
                        redis, instruments, settings.cache_compression_threshold_bytes,
                        settings.cache_compression_level, settings.cache_max_value_bytes,
                        settings.cache_scan_batch_size)
    policy = policy_for(settings.resilience_preset, max_attempts=settings.resilience_max_attempts,
                        failure_threshold=settings.resilience_failure_threshold,
                        recovery_timeout_s=settings.resilience_recovery_timeout_seconds,
                        base_delay_s=settings.resilience_base_delay_seconds)
    resilience = Resilience(policy, OPERATIONS, instruments, retry_on=(LLMTransientError,))
    content = ContentCapture(parse_mode(settings.otel_instrumentation_genai_capture_message_content),
                             settings.genai_content_max_chars, load_redactor(settings.genai_content_redactor))
    llm = GenAIClient(build_provider(settings, telemetry), scoped_tracer(telemetry.tracer_provider, "app.llm"),
                      instruments, ConcurrencyLimiter(settings.llm_max_concurrency,
                                                      settings.llm_queue_timeout_seconds, instruments),
                      content, telemetry.logs.provider.get_logger("app.llm") if telemetry.logs else None,
                      settings.llm_prices)
    limit = memory_limit_bytes(settings.memory_limit_mb)
    instruments.observe(PROCESS_MEMORY, lambda: [Observation(rss_bytes())])
    instruments.observe(MEMORY_LIMIT, lambda: [Observation(limit)])
    catalog = build_catalog(settings.alert_memory_warning_mb, settings.alert_memory_critical_mb,
                            settings.llm_budget_usd_per_hour)
    instance = new_instance_id()
    instance_id = str(telemetry.resource.attributes.get("service.instance.id", instance))  # as OTLP names it
    cluster = None
    if redis is not None:
        cluster = ClusterView(settings.redis_url, settings.otel_service_name, instance_id, telemetry.history,
                              settings.redis_timeout_seconds,
                              max(0.5, settings.redis_retry_interval_seconds))
    alert_store = AlertStore(redis, settings.alert_history_retention_days * 86400.0, instance,
                             retry_s=max(0.5, settings.redis_retry_interval_seconds))
    maintenance = Maintenance(redis, instance)
    notifier = WebhookNotifier(
        settings.monitoring_webhook_url, settings.monitoring_webhook_secret,
        timeout_s=settings.monitoring_webhook_timeout_seconds, max_attempts=settings.monitoring_webhook_max_attempts,
        backoff_s=settings.monitoring_webhook_backoff_seconds, queue_size=settings.monitoring_webhook_queue_size,
        silenced=maintenance.active)
    instrument_httpx(notifier.client, telemetry, secret_path=True)

    # The hooks run on the history thread (or on the loop, when a request evaluates alerts): they
    # only record into memory and hand over to the loop; Redis writes and webhook calls happen there.
    def report(record: AlertRecord, kind: AlertEvent) -> None:
        """Keep the record and notify: for in-process alerts and for those Alertmanager relays."""
        alert_store.record(record)
        notifier.submit(event(kind, settings.otel_service_name, settings.environment, instance, record))

    def changed(alert: Alert, kind: AlertEvent) -> None:
        report(AlertRecord.of(alert, instance), kind)

    # Over the cluster view every worker reaches the same verdict: one of them (the oldest live)
    # counts, records and notifies it, so an alert is one record and one webhook, not one per worker.
    def leads() -> bool:
        return cluster is None or cluster.leads()

    def fired(alert: Alert) -> None:
        _log.warning("alert %s (%s) firing: %s", alert.name, alert.severity, alert.message)
        if leads():
            instruments.alerts_fired.add(1, {"llm_obs.alert.name": alert.name,
                                             "llm_obs.alert.severity": alert.severity})
            changed(alert, "alert.fired")

    def resolved(alert: Alert) -> None:
        _log.info("alert %s resolved after %.0fs", alert.name, (alert.resolved_at or 0) - alert.first_seen)
        if leads():
            changed(alert, "alert.resolved")

    monitor = Monitor(telemetry.history, AlertBook(catalog, on_fire=fired, on_resolve=resolved), cluster, instance_id)

    def judge(snapshot: Snapshot) -> object:
        return monitor.evaluate_alerts(snapshot)

    # Alerts are judged on every history tick too, so they fire with nobody polling /alerts; with a
    # cluster view, after this worker's snapshots were published and the others' read.
    telemetry.history.on_record = cluster.hook(judge) if cluster is not None else judge
    processor = TextProcessor(llm, cache, resilience, settings.llm_max_concurrency)
    return Services(settings, telemetry, cache, resilience, llm, processor, monitor, catalog, alert_store, notifier,
                    maintenance, report, build_pusher(settings, telemetry), cluster=cluster,
                    prometheus=build_prometheus(settings, telemetry))


def build_prometheus(settings: Settings, telemetry: Telemetry) -> PrometheusSource | None:
    """MONITORING_QUERY_BACKEND=prometheus: the series this service exports, as Prometheus scraped them."""
    if settings.monitoring_query_backend != "prometheus":
        return None
    return PrometheusSource(settings.prometheus_url, job_of(telemetry.resource.attributes),
                            settings.prometheus_query_timeout_seconds)


def build_pusher(settings: Settings, telemetry: Telemetry) -> PushgatewayPusher | None:
    """The guide's ENABLE_EXTERNAL_MONITORING + PROMETHEUS_GATEWAY_URL: push what Prometheus would scrape."""
    if not (settings.enable_external_monitoring and settings.prometheus_gateway_url):
        return None
    attributes = telemetry.resource.attributes
    pusher = PushgatewayPusher(settings.prometheus_gateway_url, str(attributes.get("service.name", "llm-service")),
                               str(attributes.get("service.instance.id", "0")),
                               lambda: render(telemetry.history.latest()), settings.metrics_export_interval)
    telemetry.export_status.append(pusher.status)  # reported beside the OTLP exporters in health
    return pusher


