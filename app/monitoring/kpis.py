"""The one KPI catalog: the guide's thresholds with their severity and response time.

The in-process alert engine evaluates it over ``Measurements``; the Prometheus alerting rules are
generated from the same entries (``promql``), and the Grafana panels draw the same thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")

# The guide's "Alert Severity Levels" table.
RESPONSE_TIME: dict[Severity, str] = {"critical": "< 15 minutes", "warning": "< 1 hour", "info": "< 4 hours"}
ESCALATION: dict[Severity, str] = {
    "critical": "Immediate escalation", "warning": "Team notification", "info": "Log review"}

# Alerts are judged over this window, like a rule's rate(...[5m]).
ALERT_WINDOW_SECONDS = 300

_API = 'http_route=~"/v1/.*"'
_HTTP = f"http_server_request_duration_seconds_bucket{{{_API}}}"
_ERROR_RATE = (
    f'100 * sum(rate(http_server_request_duration_seconds_count{{{_API},http_response_status_code=~"5.."}}[5m]))'
    f" / sum(rate(http_server_request_duration_seconds_count{{{_API}}}[5m])) > {{threshold}}"
)


# The sample counts behind ``min_field``, so Prometheus, like the in-process engine, does not judge
# a percentile or a ratio on a handful of samples.
SAMPLE_COUNT_PROMQL: dict[str, str] = {
    "requests": f"sum(increase(http_server_request_duration_seconds_count{{{_API}}}[5m]))",
    "cache_lookups": "sum(increase(llm_obs_cache_lookups_total[5m]))",
    "redis_operations": 'sum(increase(db_client_operation_duration_seconds_count{db_system_name="redis"}[5m]))',
    "ai_calls": "sum(increase(gen_ai_client_operation_duration_seconds_count[5m]))",
    "ai_streams": "sum(increase(gen_ai_client_operation_time_to_first_chunk_seconds_count[5m]))",
}


@dataclass(frozen=True)
class KPI:
    name: str  # alert name, CamelCase as Prometheus alerts are named
    title: str
    field: str  # attribute of Measurements
    op: Literal[">", "<"]
    threshold: float
    unit: str
    severity: Severity
    source: str  # the component the alert is about
    promql: str  # the same condition for Prometheus, ``{threshold}`` filled in
    min_field: str | None = None  # do not judge on fewer samples than ...
    min_samples: int = 0

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.op == ">" else value < self.threshold

    @property
    def response_time(self) -> str:
        return RESPONSE_TIME[self.severity]

    def expr(self) -> str:
        # replace, not format: PromQL label matchers are full of braces
        condition = self.promql.replace("{threshold}", f"{self.threshold:g}")
        if self.min_field is None:
            return condition
        return f"({condition}) and ({SAMPLE_COUNT_PROMQL[self.min_field]} >= {self.min_samples})"


def build_catalog(cache_memory_warning_mb: float = 50.0, cache_memory_critical_mb: float = 100.0,
                  ai_budget_usd_per_hour: float = 10.0) -> tuple[KPI, ...]:
    quantile = "histogram_quantile({q}, sum by (le) (rate({metric}[5m]))) * 1000 > {{threshold}}"
    return (
        KPI("ApiLatencyP95High", "API response time P95", "p95_response_time", ">", 2000, "ms",
            "warning", "api", quantile.format(q=0.95, metric=_HTTP), "requests", 10),
        KPI("ApiLatencyP99High", "API response time P99", "p99_response_time", ">", 5000, "ms",
            "critical", "api", quantile.format(q=0.99, metric=_HTTP), "requests", 10),
        KPI("ApiErrorRateHigh", "API error rate", "error_rate", ">", 1.0, "%", "warning", "api",
            _ERROR_RATE, "requests", 10),
        KPI("ApiErrorRateCritical", "API error rate (degraded)", "error_rate", ">", 5.0, "%", "critical", "api",
            _ERROR_RATE, "requests", 10),
        KPI("CacheHitRatioLow", "Cache hit ratio", "hit_ratio", "<", 70.0, "%", "warning", "cache",
            '100 * (sum(rate(llm_obs_cache_lookups_total{llm_obs_cache_result="hit"}[5m])) or vector(0))'
            " / sum(rate(llm_obs_cache_lookups_total[5m])) < {threshold}", "cache_lookups", 20),
        # Workers of one host share its limit: their memory added up, against the one limit (the
        # in-process view merges the limit gauge with max too, see GAUGE_MERGE).
        KPI("MemoryUsageHigh", "Process memory of its limit", "memory_usage_percent", ">", 80.0, "%",
            "warning", "system",
            "100 * sum(process_memory_usage_bytes) / max(llm_obs_memory_limit_bytes) > {threshold}"),
        KPI("CacheMemoryWarning", "Cache memory", "cache_memory_mb", ">", cache_memory_warning_mb, "MB",
            "warning", "cache", "sum(llm_obs_cache_memory_usage_bytes) / 1e6 > {threshold}"),
        KPI("CacheMemoryCritical", "Cache memory", "cache_memory_mb", ">", cache_memory_critical_mb, "MB",
            "critical", "cache", "sum(llm_obs_cache_memory_usage_bytes) / 1e6 > {threshold}"),
        KPI("RedisLatencyHigh", "Redis response time P95", "redis_p95_ms", ">", 10.0, "ms", "warning", "redis",
            quantile.format(q=0.95, metric='db_client_operation_duration_seconds_bucket{db_system_name="redis"}'),
            "redis_operations", 10),
        KPI("AiLatencyP95High", "AI service latency P95", "ai_p95_ms", ">", 30000.0, "ms", "warning",
            "ai_service", quantile.format(q=0.95, metric="gen_ai_client_operation_duration_seconds_bucket"),
            "ai_calls", 5),
        # what a streaming user waits before the answer starts: a slow first chunk is felt even when the
        # whole call stays within its own latency KPI
        KPI("AiTimeToFirstChunkHigh", "AI time to first chunk P95", "ai_ttfc_p95_ms", ">", 3000.0, "ms", "warning",
            "ai_service", quantile.format(q=0.95, metric="gen_ai_client_operation_time_to_first_chunk_seconds_bucket"),
            "ai_streams", 5),
        # spend as a rate over the alert window, scaled to an hour: a burst that would blow the hourly
        # budget is seen within minutes, not after the hour
        KPI("AiSpendHigh", "AI spend rate", "ai_spend_usd_per_hour", ">", ai_budget_usd_per_hour, "USD/h",
            "warning", "ai_service", "(sum(rate(llm_obs_gen_ai_client_cost_total[5m])) or vector(0)) * 3600"
            " > {threshold}"),
        KPI("CircuitBreakerOpen", "Open circuit breakers", "open_breaker_count", ">", 0, "breakers",
            "critical", "resilience", "count(llm_obs_circuit_breaker_state == 2) > {threshold}"),
        KPI("ConfigLoadSlow", "Configuration load time", "config_load_ms", ">", 100.0, "ms", "info", "config",
            "sum(llm_obs_config_load_duration_seconds_sum) / sum(llm_obs_config_load_duration_seconds_count) * 1000"
            " > {threshold}"),
    )
