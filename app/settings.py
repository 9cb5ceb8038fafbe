"""The one settings class: every environment variable the operations guide names, validated.

A bad value is a start-up error that names the variable (pydantic's message), never a silent default.
Standard ``OTEL_*`` variables are read by the OpenTelemetry SDK itself; the few we need to decide
behaviour (is export on? which service name?) are read here too so they are validated once.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Environment = Literal["development", "testing", "staging", "production"]
PresetName = Literal["simple", "development", "production", "conservative"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ModelPrice(BaseModel):
    """One model's price, in US dollars per million tokens."""

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Service
    environment: Environment = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    # uvicorn worker processes of `python -m app`; with Redis the runbook answers add them all up
    workers: int = Field(default=1, ge=1, le=64)

    # Access (app/api/access.py): client keys open /v1 (open while none is configured); operator keys
    # open /internal/*, which answers loopback clients only while none is configured. Neither opens
    # the other surface.
    api_key: str = ""
    additional_api_keys: Annotated[list[str], NoDecode] = []
    internal_api_key: str = ""
    additional_internal_api_keys: Annotated[list[str], NoDecode] = []
    # /internal/* without an operator key to every client, not only loopback: something in front guards it
    allow_open_internal: bool = False
    # Request bodies over these are refused with 413 before they are read. 4 MiB holds the largest
    # batch (50 texts of 10000 characters) even as \u-escaped non-Latin text (~3.3 MB with questions).
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=1024**3)
    max_restore_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=16 * 1024**3)  # cache backups

    # LLM provider
    llm_provider: Literal["offline", "openai"] = "offline"
    llm_base_url: str = "https://api.openai.com/v1"
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str = ""
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Token counts the provider did not report (always, for the offline provider) are left out; on,
    # they are estimated from the text and marked llm_obs.usage.estimated (the GenAI conventions allow
    # estimates only when the user opts in).
    llm_estimate_tokens: bool = False
    # Prompt and completion text in telemetry, the official GenAI utility's variable: NO_CONTENT (default),
    # SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT. Captured text is masked (URL credentials, HTTP credentials,
    # then GENAI_CONTENT_REDACTOR, a module:function taking and returning str) and cut at the bound.
    otel_instrumentation_genai_capture_message_content: str = ""
    genai_content_max_chars: int = Field(default=4096, ge=16, le=1_000_000)
    genai_content_redactor: str = ""
    # USD per million tokens by model, JSON: {"gpt-4o-mini": {"input_per_million": 0.15,
    # "output_per_million": 0.6}}; reported tokens only are priced (llm_obs.gen_ai.client.cost).
    llm_prices: dict[str, ModelPrice] = Field(default_factory=dict)
    llm_budget_usd_per_hour: float = Field(default=10.0, gt=0)  # the AiSpendHigh KPI's threshold
    # LLM calls in flight at once, per worker process (process, batch items, retries alike; cache hits
    # take none); a call waits this long at most for a slot, then the request is a 503 with Retry-After.
    llm_max_concurrency: int = Field(default=8, ge=1, le=256)
    llm_queue_timeout_seconds: float = Field(default=10.0, ge=0, le=600)  # 0: refuse at once when full

    # Cache
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_enabled: bool = True
    redis_timeout_seconds: float = Field(default=0.25, gt=0, le=10)
    redis_retry_interval_seconds: float = Field(default=5.0, ge=0, le=300)
    cache_memory_max_entries: int = Field(default=1000, ge=1)
    cache_memory_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    cache_compression_threshold_bytes: int = Field(default=1000, ge=0)
    cache_compression_level: int = Field(default=6, ge=1, le=9)
    # The most JSON one cached value may decompress to, read from Redis or a restore (both untrusted):
    # past it the entry is refused unread. An answer of the largest request is a few hundred KB at most.
    cache_max_value_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    # Keys per SCAN step when clear and backup walk Redis (and per DEL or dump of them): the walk always
    # covers the whole keyspace; this only sets how much each round trip carries.
    cache_scan_batch_size: int = Field(default=500, ge=10, le=10_000)

    # Resilience: a preset, optionally overridden field by field.
    resilience_preset: PresetName = "simple"
    resilience_max_attempts: int | None = Field(default=None, ge=1, le=20)
    resilience_failure_threshold: int | None = Field(default=None, ge=1, le=1000)
    resilience_recovery_timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    resilience_base_delay_seconds: float | None = Field(default=None, ge=0, le=60)

    # Monitoring (names from the operations guide)
    enable_monitoring: bool = True
    monitoring_log_level: LogLevel = "INFO"
    cache_monitoring_retention_hours: int = Field(default=168, ge=1, le=24 * 90)
    alert_memory_warning_mb: float = Field(default=50.0, gt=0)
    alert_memory_critical_mb: float = Field(default=100.0, gt=0)
    metrics_export_interval: float = Field(default=60.0, ge=1, le=3600)
    enable_external_monitoring: bool = False
    prometheus_gateway_url: str = ""
    prometheus_url: str = ""  # the Prometheus server, probed by /internal/monitoring/dependencies
    # Where the runbook's windows come from: "local" (this worker's history, merged through Redis when
    # there is one) or "prometheus" (PROMETHEUS_URL, every instance it scrapes; local when it fails).
    monitoring_query_backend: Literal["local", "prometheus"] = "local"
    # Short: a runbook answer waits this long at most before it falls back to the local view.
    prometheus_query_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    monitoring_webhook_url: str = ""
    memory_limit_mb: float | None = Field(default=None, gt=0)

    # Alert records and webhook notifications. Each alert that fires or resolves is POSTed as JSON
    # to MONITORING_WEBHOOK_URL, signed ``X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``
    # with MONITORING_WEBHOOK_SECRET (unsigned when empty, which production refuses).
    monitoring_webhook_secret: str = ""
    monitoring_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    monitoring_webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    monitoring_webhook_backoff_seconds: float = Field(default=1.0, ge=0, le=60)  # doubles per retry
    monitoring_webhook_queue_size: int = Field(default=100, ge=1, le=10_000)  # overflow is counted
    alert_history_retention_days: int = Field(default=30, ge=1, le=3650)

    # OpenTelemetry (standard variables; the SDK reads the rest itself)
    otel_service_name: str = "llm-text-service"
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    # HTTP server instrumentation: "lean" (one span and one record per request, instrumentation/asgi.py),
    # "stock" (the contrib FastAPIInstrumentor, several times the cost) or "off" (e.g. a mesh measures HTTP).
    http_instrumentation: Literal["lean", "stock", "off"] = "lean"

    @field_validator("additional_api_keys", "additional_internal_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("llm_base_url", "prometheus_gateway_url", "prometheus_url", "monitoring_webhook_url",
                     "otel_exporter_otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _critical_follows_warning(cls, data: Any) -> Any:
        # The guide's production block raises ALERT_MEMORY_WARNING_MB to 200 and says nothing of the
        # critical level: unless it is set, critical stays twice the warning (100 for the default 50).
        if isinstance(data, dict) and data.get("alert_memory_critical_mb") is None:
            try:
                warning = float(data.get("alert_memory_warning_mb", 50.0))
            except (TypeError, ValueError):
                return data  # the field validator reports the bad warning value
            data = {**data, "alert_memory_critical_mb": max(100.0, 2 * warning)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.alert_memory_critical_mb < self.alert_memory_warning_mb:
            raise ValueError("ALERT_MEMORY_CRITICAL_MB must not be below ALERT_MEMORY_WARNING_MB")
        if self.environment == "production" and self.monitoring_webhook_url and not self.monitoring_webhook_secret:
            raise ValueError("MONITORING_WEBHOOK_URL needs MONITORING_WEBHOOK_SECRET in production: "
                             "receivers must be able to verify the X-Signature-256 header")
        if (self.environment == "production" and not self.operator_api_keys and not self.allow_open_internal
                and not _is_loopback(self.host)):
            raise ValueError(f"ENVIRONMENT=production with HOST={self.host} and no operator key: /internal/* "
                             "(cache backup and clear, breaker reset, maintenance mode) would answer only "
                             "loopback clients, which behind a local proxy is everyone: set INTERNAL_API_KEY "
                             "(client keys such as API_KEY do not open /internal), listen on HOST=127.0.0.1, "
                             "or set ALLOW_OPEN_INTERNAL=true if something in front already guards /internal/*")
        if self.monitoring_query_backend == "prometheus" and not _has_host_and_port(self.prometheus_url):
            raise ValueError("MONITORING_QUERY_BACKEND=prometheus needs PROMETHEUS_URL, the Prometheus server to "
                             "query (e.g. http://localhost:9090), with a host and a valid port"
                             + (f"; it is {self.prometheus_url!r}" if self.prometheus_url else ""))
        if self.llm_provider == "openai" and not self.llm_base_url:
            raise ValueError("LLM_PROVIDER=openai needs LLM_BASE_URL")
        return self

    @property
    def valid_api_keys(self) -> frozenset[str]:
        return frozenset(k for k in [self.api_key, *self.additional_api_keys] if k)

    @property
    def operator_api_keys(self) -> frozenset[str]:
        """The keys /internal/* accepts: INTERNAL_API_KEY and ADDITIONAL_INTERNAL_API_KEYS, never a /v1 key."""
        return frozenset(k for k in [self.internal_api_key, *self.additional_internal_api_keys] if k)

    @property
    def otlp_export_enabled(self) -> bool:
        return bool(self.otel_exporter_otlp_endpoint) or self.enable_external_monitoring


def _has_host_and_port(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on "notaport" or 99999
    except ValueError:
        return False
    return bool(parts.hostname)


def _is_loopback(host: str) -> bool:
    try:
        return host.lower() == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
