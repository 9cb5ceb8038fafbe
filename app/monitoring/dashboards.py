"""Grafana dashboards generated from the KPI catalog, so the thresholds drawn on the panels are the
ones the alerts judge. ``python -m app.monitoring.dashboards DIR`` writes them; they are checked in
under ``collector/grafana/dashboards/`` and a test fails when they drift from this module.

Every query here is run against a live Prometheus by the pipeline tests (the stand-in for Grafana).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.monitoring.kpis import KPI, build_catalog

PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
API = 'http_route=~"/v1/.*"'
HTTP_BUCKET = f"http_server_request_duration_seconds_bucket{{{API}}}"
HTTP_COUNT = f"http_server_request_duration_seconds_count{{{API}}}"
HTTP_5XX = f'http_server_request_duration_seconds_count{{{API},http_response_status_code=~"5.."}}'
REDIS_BUCKET = 'db_client_operation_duration_seconds_bucket{db_system_name="redis"}'



@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend)
    kind: str = "timeseries"  # timeseries | stat | state-timeline | table
    unit: str = "short"
    kpi: str | None = None  # the KPI whose threshold is drawn
    scale: float = 1.0  # KPI threshold in the KPI's unit -> the panel's unit
    description: str = ""
    mappings: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _quantile(q: float, bucket: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({bucket}[5m])))"


BREAKER_MAPPINGS = ({"type": "value", "options": {
    "0": {"text": "closed", "color": "green"}, "1": {"text": "half-open", "color": "yellow"},
    "2": {"text": "open", "color": "red"}}},)

DASHBOARDS: dict[str, tuple[str, tuple[Panel, ...]]] = {
    "llm-system-health": ("LLM service: System Health Overview", (
        Panel("Overall status (critical alerts firing)",
              (('count(ALERTS{alertstate="firing",severity="critical"}) or vector(0)', "critical alerts"),),
              kind="stat", description="0 = healthy; any critical KPI alert firing turns this red.",
              mappings=({"type": "value", "options": {"0": {"text": "healthy", "color": "green"}}},)),
        Panel("Component health matrix: circuit breakers", (("max by (app_circuit_breaker_name) "
              "(app_circuit_breaker_state)", "{{app_circuit_breaker_name}}"),), kind="state-timeline",
              kpi="CircuitBreakerOpen", mappings=BREAKER_MAPPINGS),
        Panel("Component health matrix: Redis errors/s",
              (('sum(rate(db_client_operation_duration_seconds_count{db_system_name="redis",error_type!=""}[5m]))'
                " or vector(0)", "redis errors/s"),), kind="stat", unit="reqps"),
        Panel("Component health matrix: OTLP export to the Collector (accepted spans/s)",
              (("sum(rate(otelcol_receiver_accepted_spans_total[5m])) or vector(0)", "spans/s"),),
              kind="stat", unit="short"),
        Panel("Active alerts by severity",
              (('sum by (severity) (ALERTS{alertstate="firing"}) or on() vector(0)', "{{severity}}"),),
              kind="stat"),
    )),
    "llm-performance": ("LLM service: Performance Metrics", (
        Panel("API response time P50 / P95 / P99", (
            (f"{_quantile(0.5, HTTP_BUCKET)} * 1000", "p50"),
            (f"{_quantile(0.95, HTTP_BUCKET)} * 1000", "p95"),
            (f"{_quantile(0.99, HTTP_BUCKET)} * 1000", "p99")), unit="ms", kpi="ApiLatencyP95High"),
        Panel("Cache hit ratio", (('100 * (sum(rate(app_cache_lookups_total{app_cache_result="hit"}[5m])) or vector(0))'
                                   " / sum(rate(app_cache_lookups_total[5m]))", "hit ratio"),),
              unit="percent", kpi="CacheHitRatioLow"),
        Panel("Memory usage (% of limit)", (("100 * sum(process_memory_usage_bytes) / max(app_memory_limit_bytes)",
                                             "process"),), unit="percent", kpi="MemoryUsageHigh"),
        Panel("Cache memory", (("sum(app_cache_memory_usage_bytes) / 1e6", "memory tier"),), unit="decmbytes",
              kpi="CacheMemoryWarning"),
        Panel("Error rate", ((f"100 * (sum(rate({HTTP_5XX}[5m])) or vector(0)) / sum(rate({HTTP_COUNT}[5m]))",
                              "5xx %"),), unit="percent", kpi="ApiErrorRateHigh"),
        Panel("Requests per second by route", ((f"sum by (http_route) (rate({HTTP_COUNT}[5m]))", "{{http_route}}"),),
              unit="reqps"),
    )),
    "llm-infrastructure": ("LLM service: Infrastructure Status", (
        Panel("Circuit breaker states", (("max by (app_circuit_breaker_name) (app_circuit_breaker_state)",
                                          "{{app_circuit_breaker_name}}"),), kind="state-timeline",
              mappings=BREAKER_MAPPINGS),
        Panel("Redis latency P95", ((f"{_quantile(0.95, REDIS_BUCKET)} * 1000", "p95"),), unit="ms",
              kpi="RedisLatencyHigh"),
        Panel("Redis operations per second", ((
            'sum by (db_operation_name) (rate(db_client_operation_duration_seconds_count{db_system_name="redis"}[5m]))',
            "{{db_operation_name}}"),), unit="ops"),
        Panel("Configuration load time", (("sum(app_config_load_duration_seconds_sum) / "
                                           "sum(app_config_load_duration_seconds_count) * 1000", "load"),),
              kind="stat", unit="ms", kpi="ConfigLoadSlow"),
        Panel("AI service response time P95 by model", ((
            f"{_quantile(0.95, 'gen_ai_client_operation_duration_seconds_bucket', 'le, gen_ai_request_model')} * 1000",
            "{{gen_ai_request_model}}"),), unit="ms", kpi="AiLatencyP95High"),
        Panel("AI token usage per second", (("sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum[5m]))",
                                             "{{gen_ai_token_type}}"),), unit="short"),
        Panel("Retries per second", (("sum by (app_operation) (rate(app_retry_attempts_total[5m])) or vector(0)",
                                      "{{app_operation}}"),), unit="short"),
    )),
    "otel-collector": ("OpenTelemetry Collector health", (
        Panel("Spans received / exported per second", (
            ("sum(rate(otelcol_receiver_accepted_spans_total[5m]))", "accepted"),
            ("sum(rate(otelcol_exporter_sent_spans_total[5m]))", "sent")), unit="short"),
        Panel("Metric points received / exported per second", (
            ("sum(rate(otelcol_receiver_accepted_metric_points_total[5m]))", "accepted"),
            ("sum(rate(otelcol_exporter_sent_metric_points_total[5m]))", "sent")), unit="short"),
        Panel("Export failures per second", ((
            "sum(rate(otelcol_exporter_send_failed_spans_total[5m])) or vector(0)", "spans"),), unit="short"),
        Panel("Collector memory (RSS)", (("max(otelcol_process_memory_rss_bytes)", "rss"),), unit="bytes"),
        Panel("Collector up", (('up{job="otel-collector"}', "{{instance}}"),), kind="stat"),
    )),
}


def _thresholds(panel: Panel, kpis: dict[str, KPI]) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    kpi = kpis.get(panel.kpi or "")
    if kpi is not None:
        value = kpi.threshold * panel.scale
        if kpi.op == "<":
            steps = [{"color": "red", "value": None}, {"color": "green", "value": value}]
        else:
            steps.append({"color": "red" if kpi.severity == "critical" else "orange", "value": value})
    return {"mode": "absolute", "steps": steps}


def panel_json(panel: Panel, index: int, kpis: dict[str, KPI]) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    if panel.kind == "timeseries":
        custom = {"thresholdsStyle": {"mode": "line+area" if panel.kpi else "off"}, "lineWidth": 2}
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description or (f"KPI: {kpis[panel.kpi].title} {kpis[panel.kpi].op} "
                                             f"{kpis[panel.kpi].threshold:g} {kpis[panel.kpi].unit}"
                                             if panel.kpi in kpis else ""),
        "datasource": PROMETHEUS,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": panel.unit, "thresholds": _thresholds(panel, kpis),
                                     "mappings": list(panel.mappings), "custom": custom}, "overrides": []},
        "options": {},
        "targets": [{"datasource": PROMETHEUS, "refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     "exemplar": panel.kind == "timeseries"} for i, (expr, legend) in enumerate(panel.exprs)],
    }


def dashboard_json(uid: str, catalog: tuple[KPI, ...] | None = None) -> dict[str, Any]:
    kpis = {k.name: k for k in (catalog or build_catalog())}
    title, panels = DASHBOARDS[uid]
    return {
        "uid": uid, "title": title, "tags": ["llm-service", "opentelemetry"], "timezone": "browser",
        "schemaVersion": 39, "version": 1, "refresh": "30s", "time": {"from": "now-1h", "to": "now"},
        "panels": [panel_json(p, i, kpis) for i, p in enumerate(panels)],
        "links": [{"title": "Other dashboards", "type": "dashboards", "tags": ["llm-service"], "asDropdown": True}],
    }


def queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every query of every panel."""
    return [(uid, p.title, expr) for uid, (_t, panels) in DASHBOARDS.items() for p in panels for expr, _l in p.exprs]


def render(uid: str) -> str:
    return json.dumps(dashboard_json(uid), indent=2, sort_keys=True) + "\n"


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for uid in DASHBOARDS:
        path = directory / f"{uid}.json"
        path.write_text(render(uid))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "collector/grafana/dashboards")):
        print(written_path)
