"""``render(snapshot)``: the Prometheus text exposition, named as the Collector names the metrics."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from opentelemetry.metrics import Observation

from app.monitoring.exposition import render
from app.monitoring.kpis import build_catalog
from instrumentation import Telemetry
from instrumentation import instruments as names
from instrumentation.snapshot import Snapshot

from .traffic import API_ROUTE, http_histogram, request_attrs

# Every instrument name declared in instrumentation/instruments.py, plus the HTTP server histogram.
DECLARED = {v for k, v in vars(names).items()
            if k.isupper() and isinstance(v, str) and "." in v} - {names.USAGE_ESTIMATED}  # an attribute

GENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "offline",
         "gen_ai.request.model": "offline-extractive-1"}


def record_everything(telemetry: Telemetry) -> Snapshot:
    ins = telemetry.instruments
    hist = http_histogram(telemetry)
    hist.record(0.12, request_attrs(API_ROUTE, 200))
    hist.record(0.9, request_attrs(API_ROUTE, 500))
    hist.record(0.003, request_attrs("/health", 200, "GET"))
    ins.genai_duration.record(1.7, GENAI)
    ins.genai_duration.record(31.0, {**GENAI, "error.type": "LLMTransientError"})
    ins.genai_time_to_first_chunk.record(0.4, GENAI)
    ins.genai_time_per_output_chunk.record(0.02, GENAI)
    ins.genai_tokens.record(250, {**GENAI, "gen_ai.token.type": "input"})
    ins.genai_tokens.record(60, {**GENAI, "gen_ai.token.type": "output"})
    ins.genai_cost.add(0.0125, {**GENAI, "gen_ai.token.type": "input"})
    ins.db_duration.record(0.0012, {"db.system.name": "redis", "db.operation.name": "GET"})
    ins.cache_lookups.add(3, {"llm_obs.cache.result": "hit", "llm_obs.cache.tier": "memory",
                              "llm_obs.operation": "summarize"})
    ins.cache_lookups.add(1, {"llm_obs.cache.result": "miss", "llm_obs.cache.tier": "none",
                              "llm_obs.operation": "summarize"})
    ins.cache_duration.record(0.0004, {"llm_obs.cache.operation": "get"})
    ins.cache_duration.record(0.0009, {"llm_obs.cache.operation": "set"})
    ins.breaker_transitions.add(1, {"llm_obs.circuit_breaker.name": "ai_service",
                                    "llm_obs.circuit_breaker.from": "closed",
                                    "llm_obs.circuit_breaker.to": "open"})
    ins.retry_attempts.add(2, {"llm_obs.operation": "qa"})
    ins.config_load.record(0.012)
    ins.alerts_fired.add(1, {"llm_obs.alert.name": "CircuitBreakerOpen", "llm_obs.alert.severity": "critical"})
    ins.llm_active.add(2)
    ins.llm_queued.add(1)
    ins.llm_at_admission.record(2)
    ins.llm_queue_wait.record(0.3, {"llm_obs.llm.queue.outcome": "rejected"})
    ins.observe(names.CACHE_MEMORY, lambda: [Observation(123_456, {"llm_obs.cache.tier": "memory"})])
    ins.observe(names.CACHE_ENTRIES, lambda: [Observation(7, {"llm_obs.cache.tier": "memory"})])
    ins.observe(names.BREAKER_STATE, lambda: [Observation(2, {"llm_obs.circuit_breaker.name": "ai_service"}),
                                              Observation(0, {"llm_obs.circuit_breaker.name": "qa"})])
    ins.observe(names.PROCESS_MEMORY, lambda: [Observation(150_000_000)])
    ins.observe(names.MEMORY_LIMIT, lambda: [Observation(2_000_000_000)])
    return telemetry.reader.snapshot(1_700_000_000.0)


@pytest.fixture
def exposition(telemetry: Telemetry) -> str:
    snapshot = record_everything(telemetry)
    assert set(snapshot.meta) >= DECLARED, f"not recorded: {DECLARED - set(snapshot.meta)}"
    return render(snapshot)


def series_names(text: str) -> set[str]:
    return {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}


@pytest.mark.parametrize("name, prom_type", [
    ("http_server_request_duration_seconds", "histogram"),
    ("gen_ai_client_operation_duration_seconds", "histogram"),
    ("gen_ai_client_token_usage", "histogram"),
    ("db_client_operation_duration_seconds", "histogram"),
    ("llm_obs_cache_lookups_total", "counter"),
    ("llm_obs_cache_operation_duration_seconds", "histogram"),
    ("llm_obs_cache_memory_usage_bytes", "gauge"),
    ("llm_obs_cache_entries", "gauge"),
    ("llm_obs_circuit_breaker_state", "gauge"),
    ("llm_obs_circuit_breaker_transitions_total", "counter"),
    ("llm_obs_retry_attempts_total", "counter"),
    ("llm_obs_config_load_duration_seconds", "histogram"),
    ("llm_obs_alerts_fired_total", "counter"),
    ("process_memory_usage_bytes", "gauge"),
    ("llm_obs_memory_limit_bytes", "gauge"),
    ("llm_obs_llm_concurrency_active", "gauge"),
    ("llm_obs_llm_queue_waiting", "gauge"),
    ("llm_obs_llm_concurrency_at_admission", "histogram"),
    ("llm_obs_llm_queue_wait_duration_seconds", "histogram"),
])
def test_names_as_the_collector_names_them(exposition: str, name: str, prom_type: str) -> None:
    assert f"# TYPE {name} {prom_type}\n" in exposition
    emitted = series_names(exposition)
    if prom_type == "histogram":
        assert {f"{name}_bucket", f"{name}_sum", f"{name}_count"} <= emitted
    else:
        assert name in emitted


def test_labels_use_underscores(exposition: str) -> None:
    assert ('llm_obs_cache_lookups_total{llm_obs_cache_result="hit",llm_obs_cache_tier="memory",'
            'llm_obs_operation="summarize"} 3') in exposition
    assert 'llm_obs_circuit_breaker_state{llm_obs_circuit_breaker_name="ai_service"} 2' in exposition
    assert 'gen_ai_token_type="input"' in exposition
    for line in exposition.splitlines():
        if not line.startswith("#"):
            for label in re.findall(r'[{,]([^={},"]+)="', line):
                assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label), line


def test_buckets_are_cumulative_and_end_at_inf_equal_to_count(exposition: str) -> None:
    buckets: dict[tuple[str, str], list[tuple[str, int]]] = {}
    counts: dict[tuple[str, str], int] = {}
    for line in exposition.splitlines():
        m = re.match(r"^(\w+)_bucket\{(.*?),?le=\"([^\"]+)\"\} (\d+)$", line)
        if m:
            buckets.setdefault((m[1], m[2]), []).append((m[3], int(m[4])))
            continue
        m = re.match(r"^(\w+)_count(?:\{(.*)\})? (\d+)$", line)
        if m:
            counts[(m[1], m[2] or "")] = int(m[3])
    assert buckets, "no histogram buckets rendered"
    assert set(buckets) == set(counts)
    for key, series in buckets.items():
        values = [v for _le, v in series]
        assert values == sorted(values), f"{key} buckets are not cumulative"
        assert series[-1][0] == "+Inf"
        assert series[-1][1] == counts[key]
        les = [float(le) for le, _v in series[:-1]]
        assert les == sorted(les)


def test_histogram_values(exposition: str) -> None:
    api = '{http_request_method="POST",http_response_status_code="500",http_route="/v1/text_processing/process"'
    assert f'http_server_request_duration_seconds_bucket{api},le="0.75"}} 0' in exposition
    assert f'http_server_request_duration_seconds_bucket{api},le="1"}} 1' in exposition
    assert f'http_server_request_duration_seconds_count{api}}} 1' in exposition
    assert f'http_server_request_duration_seconds_sum{api}}} 0.9' in exposition
    assert "llm_obs_config_load_duration_seconds_count 1" in exposition


def test_every_metric_the_kpi_rules_query_is_emitted(exposition: str) -> None:
    emitted = series_names(exposition)
    suffixes = ("_bucket", "_count", "_sum", "_total", "_bytes", "_state")
    queried = set()
    for kpi in build_catalog():
        for token in re.findall(r"\b[a-z][a-z0-9_]*\b(?!\s*=)", kpi.promql):
            if token.endswith(suffixes):
                queried.add(token)
    assert queried, "no metric names found in the catalog's PromQL"
    assert queried <= emitted, f"queried but never emitted: {sorted(queried - emitted)}"


def test_label_values_are_escaped(telemetry: Telemetry) -> None:
    telemetry.instruments.retry_attempts.add(1, {"llm_obs.operation": 'say "hi"\\\nbye'})
    text = render(telemetry.reader.snapshot(1.0))
    assert r'llm_obs_retry_attempts_total{llm_obs_operation="say \"hi\"\\\nbye"} 1' in text


def _promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found: install the Debian package 'prometheus' (provides /usr/bin/promtool)")
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)


def test_promtool_finds_no_problem(exposition: str) -> None:
    done = _promtool_check(exposition)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_promtool_check_of_awkward_label_values(telemetry: Telemetry) -> None:
    record_everything(telemetry)
    telemetry.instruments.retry_attempts.add(1, {"llm_obs.operation": 'q"uo\\te\nline', "9lives": True})
    done = _promtool_check(render(telemetry.reader.snapshot(2.0)))
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_empty_snapshot_renders_nothing_but_a_newline() -> None:
    assert render(Snapshot(0.0)).strip() == ""


def test_process_memory_is_an_observable_up_down_counter_read_as_a_level(telemetry: Telemetry) -> None:
    """semconv declares ``process.memory.usage`` an UpDownCounter: the snapshot says so, the window and
    the exposition still read it as the current level, under the name the dashboards query."""
    from app.monitoring.windows import Window

    rss = [150_000_000]
    telemetry.instruments.observe(names.PROCESS_MEMORY, lambda: [Observation(rss[0])])
    first = telemetry.reader.snapshot(1_700_000_000.0)
    rss[0] = 100_000_000  # memory was freed
    second = telemetry.reader.snapshot(1_700_000_060.0)
    assert first.meta[names.PROCESS_MEMORY].kind == "updowncounter"
    assert Window(first, second).gauge(names.PROCESS_MEMORY) == 100_000_000  # the newest level, not a delta
    text = render(second)
    assert "# TYPE process_memory_usage_bytes gauge" in text and "\nprocess_memory_usage_bytes 100000000\n" in text
