"""Grafana dashboards generated from the KPI catalog, so the thresholds drawn on the panels are the
ones the alerts judge. ``python -m app.monitoring.dashboards DIR`` writes them; they are checked in
under ``collector/grafana/dashboards/`` and a test fails when they drift from this module.

``DASHBOARDS`` declares the panels and their PromQL; the dashboard JSON is built from it with the
Grafana Foundation SDK (``grafana_foundation_sdk``: its builders and its JSON encoder), so the model
Grafana loads is the SDK's, not a hand-written dict. Every query here is run against a live
Prometheus by the pipeline tests (the stand-in for Grafana), through ``queries()``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    GraphTresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
    VisibilityMode,
)

from app.monitoring.kpis import KPI, build_catalog

PROMETHEUS_UID = "prometheus"
PROMETHEUS = {"type": "prometheus", "uid": PROMETHEUS_UID}
API = 'http_route=~"/v1/.*"'
HTTP_BUCKET = f"http_server_request_duration_seconds_bucket{{{API}}}"
HTTP_COUNT = f"http_server_request_duration_seconds_count{{{API}}}"
HTTP_5XX = f'http_server_request_duration_seconds_count{{{API},http_response_status_code=~"5.."}}'
REDIS_BUCKET = 'db_client_operation_duration_seconds_bucket{db_system_name="redis"}'
TTFC_BUCKET = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"

PanelKind = Literal["timeseries", "stat", "state-timeline"]
# value -> (display text, colour): a Grafana value mapping
Mapping = dict[str, tuple[str, str]]


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend)
    kind: PanelKind = "timeseries"
    unit: str = "short"
    kpi: str | None = None  # the KPI whose threshold is drawn
    scale: float = 1.0  # KPI threshold in the KPI's unit -> the panel's unit
    description: str = ""
    mappings: tuple[Mapping, ...] = field(default_factory=tuple)


def _quantile(q: float, bucket: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({bucket}[5m])))"


BREAKER_MAPPINGS: tuple[Mapping, ...] = ({"0": ("closed", "green"), "1": ("half-open", "yellow"),
                                          "2": ("open", "red")},)

DASHBOARDS: dict[str, tuple[str, tuple[Panel, ...]]] = {
    "llm-system-health": ("LLM service: System Health Overview", (
        Panel("Overall status (critical alerts firing)",
              (('count(ALERTS{alertstate="firing",severity="critical"}) or vector(0)', "critical alerts"),),
              kind="stat", description="0 = healthy; any critical KPI alert firing turns this red.",
              mappings=({"0": ("healthy", "green")},)),
        Panel("Component health matrix: circuit breakers", (("max by (llm_obs_circuit_breaker_name) "
              "(llm_obs_circuit_breaker_state)", "{{llm_obs_circuit_breaker_name}}"),), kind="state-timeline",
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
        Panel("Cache hit ratio",
              (('100 * (sum(rate(llm_obs_cache_lookups_total{llm_obs_cache_result="hit"}[5m])) or vector(0))'
                                   " / sum(rate(llm_obs_cache_lookups_total[5m]))", "hit ratio"),),
              unit="percent", kpi="CacheHitRatioLow"),
        Panel("Memory usage (% of limit)", (("100 * sum(process_memory_usage_bytes) / max(llm_obs_memory_limit_bytes)",
                                             "process"),), unit="percent", kpi="MemoryUsageHigh"),
        Panel("Cache memory", (("sum(llm_obs_cache_memory_usage_bytes) / 1e6", "memory tier"),), unit="decmbytes",
              kpi="CacheMemoryWarning"),
        Panel("Error rate", ((f"100 * (sum(rate({HTTP_5XX}[5m])) or vector(0)) / sum(rate({HTTP_COUNT}[5m]))",
                              "5xx %"),), unit="percent", kpi="ApiErrorRateHigh"),
        Panel("Requests per second by route", ((f"sum by (http_route) (rate({HTTP_COUNT}[5m]))", "{{http_route}}"),),
              unit="reqps"),
    )),
    "llm-infrastructure": ("LLM service: Infrastructure Status", (
        Panel("Circuit breaker states", (("max by (llm_obs_circuit_breaker_name) (llm_obs_circuit_breaker_state)",
                                          "{{llm_obs_circuit_breaker_name}}"),), kind="state-timeline",
              mappings=BREAKER_MAPPINGS),
        Panel("Redis latency P95", ((f"{_quantile(0.95, REDIS_BUCKET)} * 1000", "p95"),), unit="ms",
              kpi="RedisLatencyHigh"),
        Panel("Redis operations per second", ((
            'sum by (db_operation_name) (rate(db_client_operation_duration_seconds_count{db_system_name="redis"}[5m]))',
            "{{db_operation_name}}"),), unit="ops"),
        Panel("Configuration load time", (("sum(llm_obs_config_load_duration_seconds_sum) / "
                                           "sum(llm_obs_config_load_duration_seconds_count) * 1000", "load"),),
              kind="stat", unit="ms", kpi="ConfigLoadSlow"),
        Panel("AI service response time P95 by model", ((
            f"{_quantile(0.95, 'gen_ai_client_operation_duration_seconds_bucket', 'le, gen_ai_request_model')} * 1000",
            "{{gen_ai_request_model}}"),), unit="ms", kpi="AiLatencyP95High"),
        Panel("AI time to first chunk P95 (streamed calls)", ((
            f"{_quantile(0.95, TTFC_BUCKET, 'le, gen_ai_request_model')} * 1000", "{{gen_ai_request_model}}"),),
              unit="ms", kpi="AiTimeToFirstChunkHigh"),
        # reported and estimated tokens (LLM_ESTIMATE_TOKENS) apart: only the first are the vendor's count
        Panel("AI token usage per second", (
            ('sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{llm_obs_usage_estimated=""}[5m]))',
             "{{gen_ai_token_type}} reported"),
            # 0 (one unlabelled series) while no estimates are made, as they are not by default
            ('sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{llm_obs_usage_estimated="true"}[5m]))'
             " or vector(0)", "{{gen_ai_token_type}} estimated")), unit="short"),
        Panel("AI spend (USD per hour)", (("(sum(rate(llm_obs_gen_ai_client_cost_total[5m])) or vector(0)) * 3600",
                                           "spend"),), unit="currencyUSD", kpi="AiSpendHigh"),
        Panel("Retries per second",
              (("sum by (llm_obs_operation) (rate(llm_obs_retry_attempts_total[5m])) or vector(0)",
                                      "{{llm_obs_operation}}"),), unit="short"),
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


SDKPanel = timeseries.Panel | stat.Panel | statetimeline.Panel
TAGS = ["llm-service", "opentelemetry"]


def datasource() -> model.DataSourceRef:
    """The Prometheus datasource, by the fixed uid collector/grafana/provisioning gives it."""
    return model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)


def _thresholds(panel: Panel, kpis: dict[str, KPI]) -> gdash.ThresholdsConfig:
    """The KPI's threshold as the panel's step: red below it for a floor (``<``), orange or red above
    it for a ceiling (red when the KPI is critical). No KPI: one green base step."""
    steps = [model.Threshold(value=None, color="green")]
    kpi = kpis.get(panel.kpi or "")
    if kpi is not None:
        value = kpi.threshold * panel.scale
        if kpi.op == "<":
            steps = [model.Threshold(value=None, color="red"), model.Threshold(value=value, color="green")]
        else:
            steps.append(model.Threshold(value=value, color="red" if kpi.severity == "critical" else "orange"))
    return gdash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def _mappings(panel: Panel) -> list[model.ValueMapping]:
    return [model.ValueMap(options={value: model.ValueMappingResult(text=text, color=color)
                                    for value, (text, color) in mapping.items()}) for mapping in panel.mappings]


def _description(panel: Panel, kpis: dict[str, KPI]) -> str:
    if panel.description or panel.kpi not in kpis:
        return panel.description
    kpi = kpis[panel.kpi]
    return f"KPI: {kpi.title} {kpi.op} {kpi.threshold:g} {kpi.unit}"


def _target(panel: Panel, index: int, expr: str, legend: str) -> prometheus.Dataquery:
    return (prometheus.Dataquery().ref_id(chr(ord("A") + index)).datasource(datasource()).expr(expr)
            .legend_format(legend).exemplar(panel.kind == "timeseries"))  # a point's trace, on time series


def _legend() -> VizLegendOptions:
    return VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM).show_legend(True)


def _tooltip() -> VizTooltipOptions:
    return VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.NONE)


def panel_builder(panel: Panel, index: int, kpis: dict[str, KPI]) -> SDKPanel:
    """The panel with its kind's options set (left unset, the SDK writes ``"options": null``), its
    KPI threshold and its targets."""
    builder: SDKPanel
    if panel.kind == "timeseries":
        mode = GraphTresholdsStyleMode.LINE_AND_AREA if panel.kpi else GraphTresholdsStyleMode.OFF
        builder = (timeseries.Panel().line_width(2).thresholds_style(GraphThresholdsStyleConfig().mode(mode))
                   .legend(_legend()).tooltip(_tooltip()))
    elif panel.kind == "stat":
        builder = (stat.Panel().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
                   .graph_mode(BigValueGraphMode.AREA).color_mode(BigValueColorMode.VALUE))
    else:
        builder = (statetimeline.Panel().show_value(VisibilityMode.AUTO).line_width(0).fill_opacity(70)
                   .legend(_legend()).tooltip(_tooltip()))
    builder = (builder.id(index + 1).title(panel.title).description(_description(panel, kpis))
               .datasource(datasource()).height(8).span(12).unit(panel.unit)
               .thresholds(_thresholds(panel, kpis)).mappings(_mappings(panel)))
    for i, (expr, legend) in enumerate(panel.exprs):
        builder = builder.with_target(_target(panel, i, expr, legend))
    return builder


def build(uid: str, catalog: tuple[KPI, ...] | None = None) -> model.Dashboard:
    """The dashboard ``uid`` as the SDK's model (two panels a row, laid out by the SDK)."""
    kpis = {k.name: k for k in (catalog or build_catalog())}
    title, panels = DASHBOARDS[uid]
    builder = (gdash.Dashboard(title).uid(uid).tags(TAGS).timezone("browser").refresh("30s")
               .time("now-1h", "now").version(1).annotations([]).variables([])  # {"list": []}, as Grafana saves them
               .link(gdash.DashboardLink("Other dashboards").type(model.DashboardLinkType.DASHBOARDS)
                     .tags(["llm-service"]).as_dropdown(True)))
    for index, panel in enumerate(panels):
        builder = builder.with_panel(panel_builder(panel, index, kpis))
    return builder.build()


def queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL) for every query of every panel."""
    return [(uid, p.title, expr) for uid, (_t, panels) in DASHBOARDS.items() for p in panels for expr, _l in p.exprs]


def render(uid: str, catalog: tuple[KPI, ...] | None = None) -> str:
    """The dashboard's JSON, as the SDK's encoder writes it (keys sorted: a stable checked-in file)."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build(uid, catalog)) + "\n"


def dashboard_json(uid: str, catalog: tuple[KPI, ...] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(uid, catalog))
    return document


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
