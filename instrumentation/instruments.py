"""Every manual instrument of the service, in one place: semconv names, units, bucket boundaries.

Buckets are chosen for the KPI thresholds they are judged against: the AI latency KPI is P95 < 30 s,
so GenAI buckets reach past 30 s; the Redis KPI is < 10 ms, so database buckets are fine under 10 ms;
the config-load KPI is < 100 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal

from opentelemetry.metrics import CallbackOptions, Meter, Observation

# Names (the Prometheus names follow: dots -> underscores, unit suffix, _total for counters).
HTTP_SERVER_DURATION: Final = "http.server.request.duration"
GENAI_DURATION: Final = "gen_ai.client.operation.duration"
GENAI_TOKENS: Final = "gen_ai.client.token.usage"
GENAI_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"  # streamed calls only
GENAI_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
DB_DURATION: Final = "db.client.operation.duration"
CACHE_LOOKUPS: Final = "llm_obs.cache.lookups"
CACHE_DURATION: Final = "llm_obs.cache.operation.duration"
CACHE_MEMORY: Final = "llm_obs.cache.memory.usage"
CACHE_ENTRIES: Final = "llm_obs.cache.entries"
BREAKER_STATE: Final = "llm_obs.circuit_breaker.state"
BREAKER_TRANSITIONS: Final = "llm_obs.circuit_breaker.transitions"
RETRY_ATTEMPTS: Final = "llm_obs.retry.attempts"
CONFIG_LOAD: Final = "llm_obs.config.load.duration"
ALERTS_FIRED: Final = "llm_obs.alerts.fired"
PROCESS_MEMORY: Final = "process.memory.usage"
MEMORY_LIMIT: Final = "llm_obs.memory.limit"
LLM_ACTIVE: Final = "llm_obs.llm.concurrency.active"
LLM_AT_ADMISSION: Final = "llm_obs.llm.concurrency.at_admission"
LLM_QUEUE_WAIT: Final = "llm_obs.llm.queue.wait.duration"
LLM_QUEUED: Final = "llm_obs.llm.queue.waiting"
# The conventions define no cost: it lives in the project's namespace. "{USD}": an annotation, so the
# Prometheus name carries no unit suffix (llm_obs_gen_ai_client_cost_total).
GENAI_COST: Final = "llm_obs.gen_ai.client.cost"
# The mark on token counts the service estimated (LLM_ESTIMATE_TOKENS); the conventions have none.
USAGE_ESTIMATED: Final = "llm_obs.usage.estimated"

# How the observed levels of several instances (workers, replicas) combine into the service's value at
# one instant: the observable gauges, and process.memory.usage (an observable up-down counter, as semconv
# defines it, but a level all the same: a dead instance's memory is not the service's). Bytes and entries
# add up; a breaker is as open as its most open copy; the memory limit is the one the workers of a host
# share (MEMORY_LIMIT_MB or the cgroup's), so the largest reported. Counters, the other up-down counters
# and histograms always add up: the sum of cumulatives is the cumulative of the sum. A gauge missing here
# adds up.
GAUGE_MERGE: Final[Mapping[str, Literal["sum", "max"]]] = {
    CACHE_MEMORY: "sum", CACHE_ENTRIES: "sum", PROCESS_MEMORY: "sum",
    BREAKER_STATE: "max", MEMORY_LIMIT: "max",
}

# Bucket boundaries
GENAI_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 30.0, 40.96, 81.92,
)  # semconv advice, plus 30 s so the AI P95 KPI falls on a bucket edge
# the duration's, plus 3 s so the time-to-first-chunk KPI falls on a bucket edge
GENAI_CHUNK_BUCKETS: Final = tuple(sorted((*GENAI_DURATION_BUCKETS, 3.0)))
GENAI_TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # semconv advice
DB_DURATION_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # sub-10 ms resolution for the Redis KPI
CACHE_DURATION_BUCKETS: Final = DB_DURATION_BUCKETS
CONFIG_LOAD_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
# Calls in flight are whole numbers up to LLM_MAX_CONCURRENCY (at most 256): one bucket per value up to
# the default limit of 8, so a window's peak is exact there, then about 15-25 % wide.
LLM_AT_ADMISSION_BUCKETS: Final = (
    1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256,
)
LLM_QUEUE_WAIT_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Breaker state as a gauge value: what a Grafana state timeline maps to colours.
BREAKER_STATE_VALUES: Final = {"closed": 0, "half_open": 1, "open": 2}

ObservationSource = Callable[[], Iterable[Observation]]


class Instruments:
    """The instruments, created once per MeterProvider. The observable ones read registered sources."""

    def __init__(self, meter: Meter) -> None:
        self._sources: dict[str, list[ObservationSource]] = {
            CACHE_MEMORY: [], CACHE_ENTRIES: [], BREAKER_STATE: [], PROCESS_MEMORY: [], MEMORY_LIMIT: [],
        }
        self.genai_duration = meter.create_histogram(
            GENAI_DURATION, unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(GENAI_DURATION_BUCKETS),
        )
        self.genai_time_to_first_chunk = meter.create_histogram(
            GENAI_TIME_TO_FIRST_CHUNK, unit="s",
            description="Time to receive the first chunk of a streamed answer, from when the call was made.",
            explicit_bucket_boundaries_advisory=list(GENAI_CHUNK_BUCKETS),
        )
        self.genai_time_per_output_chunk = meter.create_histogram(
            GENAI_TIME_PER_OUTPUT_CHUNK, unit="s",
            description="Time between two chunks of a streamed answer, for each chunk after the first.",
            explicit_bucket_boundaries_advisory=list(GENAI_CHUNK_BUCKETS),
        )
        self.genai_tokens = meter.create_histogram(
            GENAI_TOKENS, unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(GENAI_TOKEN_BUCKETS),
        )
        self.db_duration = meter.create_histogram(
            DB_DURATION, unit="s", description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=list(DB_DURATION_BUCKETS),
        )
        self.cache_lookups = meter.create_counter(
            CACHE_LOOKUPS, unit="{lookup}", description="Cache lookups, by result (hit/miss) and tier.",
        )
        self.cache_duration = meter.create_histogram(
            CACHE_DURATION, unit="s",
            description="Duration of cache writes, and of lookups that went past the memory tier.",
            explicit_bucket_boundaries_advisory=list(CACHE_DURATION_BUCKETS),
        )
        self.genai_cost = meter.create_counter(
            GENAI_COST, unit="{USD}",
            description="US dollars spent on LLM calls, by token type: reported tokens at LLM_PRICES.",
        )
        self.breaker_transitions = meter.create_counter(
            BREAKER_TRANSITIONS, unit="{transition}", description="Circuit breaker state transitions.",
        )
        self.retry_attempts = meter.create_counter(
            RETRY_ATTEMPTS, unit="{attempt}", description="Retries after a failed attempt.",
        )
        self.config_load = meter.create_histogram(
            CONFIG_LOAD, unit="s", description="Time to load and validate the configuration.",
            explicit_bucket_boundaries_advisory=list(CONFIG_LOAD_BUCKETS),
        )
        self.alerts_fired = meter.create_counter(
            ALERTS_FIRED, unit="{alert}", description="Alerts that started firing, by name and severity.",
        )
        self.llm_active = meter.create_up_down_counter(
            LLM_ACTIVE, unit="{call}", description="LLM calls holding one of the LLM_MAX_CONCURRENCY slots.",
        )
        self.llm_queued = meter.create_up_down_counter(
            LLM_QUEUED, unit="{call}", description="LLM calls waiting for a free slot of LLM_MAX_CONCURRENCY.",
        )
        self.llm_at_admission = meter.create_histogram(
            LLM_AT_ADMISSION, unit="{call}",
            description="LLM calls in flight as each call is admitted, itself included: a window's highest "
                        "bucket is its peak.",
            explicit_bucket_boundaries_advisory=list(LLM_AT_ADMISSION_BUCKETS),
        )
        self.llm_queue_wait = meter.create_histogram(
            LLM_QUEUE_WAIT, unit="s",
            description="Time LLM calls waited for a free slot, by outcome (admitted, rejected); calls that "
                        "found one free are not recorded.",
            explicit_bucket_boundaries_advisory=list(LLM_QUEUE_WAIT_BUCKETS),
        )
        meter.create_observable_gauge(
            CACHE_MEMORY, callbacks=[self._callback(CACHE_MEMORY)], unit="By",
            description="Bytes held by the cache's in-process memory tier.",
        )
        meter.create_observable_gauge(
            CACHE_ENTRIES, callbacks=[self._callback(CACHE_ENTRIES)], unit="{entry}",
            description="Entries held by the cache's in-process memory tier.",
        )
        meter.create_observable_gauge(
            BREAKER_STATE, callbacks=[self._callback(BREAKER_STATE)], unit="{state}",
            description="Circuit breaker state: 0 closed, 1 half-open, 2 open.",
        )
        meter.create_observable_up_down_counter(  # semconv: an UpDownCounter (Prometheus: a gauge still)
            PROCESS_MEMORY, callbacks=[self._callback(PROCESS_MEMORY)], unit="By",
            description="Resident memory of the service process.",
        )
        meter.create_observable_gauge(
            MEMORY_LIMIT, callbacks=[self._callback(MEMORY_LIMIT)], unit="By",
            description="Memory the process may use: MEMORY_LIMIT_MB, else the cgroup limit, else RAM.",
        )

    def observe(self, name: str, source: ObservationSource) -> None:
        """Register a source of observations for one of the observable instruments."""
        self._sources[name].append(source)

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_options: CallbackOptions) -> Iterable[Observation]:
            observations: list[Observation] = []
            for source in self._sources[name]:
                try:
                    observations.extend(source())
                except Exception:  # a broken source must not break collection of the others
                    continue
            return observations

        return callback
