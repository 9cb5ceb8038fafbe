"""What was measured in a window, in the units the guide speaks (ms, %, MB): the one input of every
KPI, alert and runbook answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.monitoring.windows import Window, mean, quantile
from instrumentation import instruments as names

API_PREFIX = "/v1/"


def is_api(attrs: Mapping[str, object]) -> bool:
    return str(attrs.get("http.route", "")).startswith(API_PREFIX)


def is_server_error(attrs: Mapping[str, object]) -> bool:
    code = attrs.get("http.response.status_code", 0)
    return is_api(attrs) and isinstance(code, int) and code >= 500


def to_ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole > 0 else 0.0


@dataclass(frozen=True)
class Measurements:
    window_seconds: float
    # API requests (routes under /v1/)
    requests: int
    errors: int
    error_rate: float  # % of API requests answered 5xx
    requests_per_second: float
    avg_response_time: float  # ms
    p50_response_time: float
    p95_response_time: float
    p99_response_time: float
    # cache
    cache_lookups: int
    cache_hits: int
    cache_misses: int
    hit_ratio: float  # %
    cache_memory_mb: float
    cache_entries: int
    cache_avg_lookup_ms: float
    cache_p95_lookup_ms: float
    # AI provider
    ai_calls: int
    ai_errors: int
    ai_p95_ms: float
    ai_avg_ms: float
    input_tokens: int
    output_tokens: int
    ai_cost_usd: float  # reported tokens at LLM_PRICES
    ai_streams: int  # streamed calls that received a first chunk
    ai_ttfc_p95_ms: float  # their time to that first chunk, P95
    # Redis
    redis_operations: int
    redis_errors: int
    redis_avg_ms: float
    redis_p95_ms: float
    # resilience, config, process
    breaker_states: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    config_load_ms: float = 0.0
    process_memory_mb: float = 0.0
    memory_limit_mb: float = 0.0
    memory_usage_percent: float = 0.0

    @property
    def open_breakers(self) -> list[str]:
        return sorted(n for n, s in self.breaker_states.items() if s == "open")

    @property
    def open_breaker_count(self) -> int:
        return len(self.open_breakers)

    @property
    def ai_spend_usd_per_hour(self) -> float:
        """The window's cost as a rate, per hour (what the AiSpendHigh KPI judges)."""
        return round(self.ai_cost_usd / self.window_seconds * 3600, 6) if self.window_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "open_breakers": self.open_breakers,
                "ai_spend_usd_per_hour": self.ai_spend_usd_per_hour}


STATE_NAMES = {v: k for k, v in names.BREAKER_STATE_VALUES.items()}


def measure(window: Window) -> Measurements:
    http = window.histogram(names.HTTP_SERVER_DURATION, is_api)
    errors = window.histogram(names.HTTP_SERVER_DURATION, is_server_error)
    requests = http.count if http else 0
    error_count = errors.count if errors else 0
    lookups = window.counter_by(names.CACHE_LOOKUPS, "llm_obs.cache.result")
    hits, misses = lookups.get("hit", 0.0), lookups.get("miss", 0.0)
    cache_get = window.histogram(names.CACHE_DURATION, lambda a: a.get("llm_obs.cache.operation") == "get")
    ai = window.histogram(names.GENAI_DURATION)
    ai_errors = window.histogram(names.GENAI_DURATION, lambda a: "error.type" in a)
    first_chunk = window.histogram(names.GENAI_TIME_TO_FIRST_CHUNK)
    # the provider's counts only: estimates (LLM_ESTIMATE_TOKENS) are marked and left out of the totals
    tokens = window.histogram_by(names.GENAI_TOKENS, "gen_ai.token.type", lambda a: names.USAGE_ESTIMATED not in a)
    redis = window.histogram(names.DB_DURATION, lambda a: a.get("db.system.name") == "redis")
    redis_errors = window.histogram(
        names.DB_DURATION, lambda a: a.get("db.system.name") == "redis" and "error.type" in a)
    config = window.new.histogram_series(names.CONFIG_LOAD)
    config_point = next(iter(config.values()), None)
    states = {str(dict(attrs).get("llm_obs.circuit_breaker.name")): STATE_NAMES.get(int(v), "unknown")
              for attrs, v in window.new.series(names.BREAKER_STATE).items()}
    process_mb = window.gauge(names.PROCESS_MEMORY) / 1e6
    memory_limit_mb = window.gauge(names.MEMORY_LIMIT) / 1e6
    seconds = window.seconds
    return Measurements(
        window_seconds=round(seconds, 3),
        requests=requests, errors=error_count, error_rate=percent(error_count, requests),
        requests_per_second=round(requests / seconds, 4) if seconds > 0 else 0.0,
        avg_response_time=to_ms(mean(http)), p50_response_time=to_ms(quantile(0.5, http)),
        p95_response_time=to_ms(quantile(0.95, http)), p99_response_time=to_ms(quantile(0.99, http)),
        cache_lookups=int(hits + misses), cache_hits=int(hits), cache_misses=int(misses),
        hit_ratio=percent(hits, hits + misses),
        cache_memory_mb=round(window.gauge(names.CACHE_MEMORY) / 1e6, 4),
        cache_entries=int(window.gauge(names.CACHE_ENTRIES)),
        cache_avg_lookup_ms=to_ms(mean(cache_get)), cache_p95_lookup_ms=to_ms(quantile(0.95, cache_get)),
        ai_calls=ai.count if ai else 0, ai_errors=ai_errors.count if ai_errors else 0,
        ai_p95_ms=to_ms(quantile(0.95, ai)), ai_avg_ms=to_ms(mean(ai)),
        input_tokens=int(tokens["input"].sum) if "input" in tokens else 0,
        output_tokens=int(tokens["output"].sum) if "output" in tokens else 0,
        ai_cost_usd=round(window.counter(names.GENAI_COST), 6),
        ai_streams=first_chunk.count if first_chunk else 0, ai_ttfc_p95_ms=to_ms(quantile(0.95, first_chunk)),
        redis_operations=redis.count if redis else 0, redis_errors=redis_errors.count if redis_errors else 0,
        redis_avg_ms=to_ms(mean(redis)), redis_p95_ms=to_ms(quantile(0.95, redis)),
        breaker_states=states,
        retries=int(window.counter(names.RETRY_ATTEMPTS)),
        config_load_ms=to_ms(mean(config_point)),  # loaded once at start: its mean is that load
        process_memory_mb=round(process_mb, 3), memory_limit_mb=round(memory_limit_mb, 1),
        memory_usage_percent=percent(process_mb, memory_limit_mb),
    )
