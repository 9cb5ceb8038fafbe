"""Prometheus answers -> Snapshot -> Window -> Measurements: the same figures as the in-process view.

Two kinds of input: answers captured from the real Prometheus 2.42 of the pipeline stack (``le="1.0"``,
``le="1.048576e+06"``, status codes as strings), and answers derived from real instruments'
snapshots through the Collector's names (``exposition.render``) and grouped as the queries' ``sum by``
would, compared with the Redis view's merge of the same snapshots.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import pytest
from opentelemetry.metrics import Observation

from app.monitoring import prometheus_window as pw
from app.monitoring.cluster import combine
from app.monitoring.exposition import render
from app.monitoring.measurements import measure
from app.monitoring.reports import by_route
from app.monitoring.windows import Window
from instrumentation import TelemetryConfig, build_telemetry
from instrumentation.instruments import (
    BREAKER_STATE,
    CACHE_MEMORY,
    GAUGE_MERGE,
    HTTP_SERVER_DURATION,
    MEMORY_LIMIT,
    PROCESS_MEMORY,
)
from instrumentation.snapshot import Snapshot

from .prometheus_answers import HTTP, NOW, REAL
from .traffic import API_ROUTE, http_histogram, request_attrs


def real_answers() -> dict[pw.QueryKey, list[pw.Sample]]:
    return {key: pw.vector(body) for key, body in REAL.items()}


def test_real_answers_measure_as_the_guide_reads_them() -> None:
    window = pw.window(real_answers(), NOW, 3600)
    m = measure(window)
    assert (m.requests, m.errors, m.error_rate) == (7, 1, pytest.approx(14.286))  # /health is not API
    assert m.window_seconds == 187.424  # the data begins later than the hour: what is covered
    assert m.requests_per_second == pytest.approx(7 / 187.424, abs=1e-4)
    assert (m.cache_hits, m.cache_misses, m.hit_ratio) == (4, 3, pytest.approx(57.143))
    assert m.breaker_states == {"ai_service": "open", "summarize": "closed"}
    assert (m.process_memory_mb, m.memory_limit_mb, m.memory_usage_percent) == (89.35, 1000.0, 8.935)
    assert m.input_tokens == 27
    # five of the six successes in the first bucket, the 500 between 0.75 s and 1 s ("1.0")
    assert m.p50_response_time == pytest.approx(1000 * 0.005 * 3.5 / 5)
    assert m.p99_response_time == pytest.approx(1000 * (0.75 + 0.25 * (6.93 - 6) / 1))
    rows = {r["route"]: r for r in by_route(window)}
    assert (rows["/v1/text_processing/process"]["requests"], rows["/v1/text_processing/process"]["errors"]) == (7, 1)
    assert rows["/health"]["requests"] == 3 and rows["/health"]["api"] is False


def test_a_window_whose_data_start_is_unknown_claims_no_coverage() -> None:
    answers = real_answers()
    del answers[pw.DATA_START]
    assert pw.window(answers, NOW, 3600).seconds == 0.0  # not the hour it was asked for


def test_le_is_read_as_a_number_and_buckets_become_per_bucket_counts() -> None:
    point = pw.histogram_point({1.0: 2, 0.5: 1, 1048576.0: 5, math.inf: 6}, 9.5)
    assert point.bounds == (0.5, 1.0, 1048576.0)
    assert point.counts == (1, 1, 3, 1) and point.count == 6 and point.sum == 9.5
    # a bucket below the one under it (a reset between two scrapes of one series) never goes negative
    assert pw.histogram_point({0.5: 3, 1.0: 2, math.inf: 4}, 0.0).counts == (3, 0, 1)
    assert pw.histogram_point({0.5: 2.0, 1.0: 2.0}, 1.0).count == 2  # no +Inf: the highest bucket


def test_labels_come_back_as_the_instruments_attributes() -> None:
    snap = pw.window(real_answers(), NOW, 3600).new
    keys = {attrs for name, attrs in snap.histograms if name == HTTP_SERVER_DURATION}
    assert (("error.type", "LLMTransientError"), ("http.request.method", "POST"), ("http.response.status_code", 500),
            ("http.route", "/v1/text_processing/process")) in keys
    assert snap.meta[HTTP_SERVER_DURATION].kind == "histogram"


def test_an_error_answer_is_not_a_vector() -> None:
    with pytest.raises(pw.PrometheusAnswerError, match="unclosed left parenthesis"):
        pw.vector({"status": "error", "errorType": "bad_data",
                   "error": 'invalid parameter "query": 1:32: parse error: unclosed left parenthesis'})
    with pytest.raises(pw.PrometheusAnswerError, match="instant vector"):
        pw.vector({"status": "success", "data": {"resultType": "scalar", "result": [NOW, "1"]}})
    with pytest.raises(pw.PrometheusAnswerError, match="unreadable"):
        pw.vector({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}})


def test_queries_group_by_the_instruments_own_labels_for_one_job() -> None:
    q = pw.queries('llm-"svc"', 3600)
    http = q[HTTP]
    assert http.startswith("sum by (http_route, http_request_method, http_response_status_code, error_type, le) (")
    assert 'job="llm-\\"svc\\""' in http and "offset 3600s" in http and "last_over_time(" in http
    assert "increase(" not in http  # exact, see the module's docstring
    assert "instance" not in http and "service_instance_id" not in http
    assert q[("llm_obs.circuit_breaker.state", "value")].startswith("max by (llm_obs_circuit_breaker_name) (")
    assert q[("llm_obs.cache.memory.usage", "value")].startswith("sum by (llm_obs_cache_tier) (")
    assert q[("llm_obs.config.load.duration", "sum")] == (  # loaded once at start: as it stands, not its window
        'sum by (llm_obs_config_source) (llm_obs_config_load_duration_seconds_sum{job="llm-\\"svc\\""})')
    assert 'http_route=~"/v1/.*"' in q[pw.REQUESTS_BY_INSTANCE]
    assert pw.duration(0.2) == "1s" and pw.duration(5400.5) == "5401s"


def test_the_job_is_named_as_the_collector_names_it() -> None:
    assert pw.job_of({"service.name": "llm"}) == "llm"
    assert pw.job_of({"service.name": "llm", "service.namespace": "ai"}) == "ai/llm"


def test_scope_lists_the_instances_prometheus_saw() -> None:
    answers = real_answers()
    found = pw.instances(answers[pw.REQUESTS_BY_INSTANCE], answers[pw.LAST_SEEN_BY_INSTANCE])
    scope = pw.scope(found, "7e62cb89", "host:42", "http://prom:9090", "llm", 12.5)
    assert (scope["source"], scope["workers"]) == ("prometheus", 1)
    assert scope["backend"] == {"configured": "prometheus", "used": "prometheus", "query_ms": 12.5}
    assert [(i["id"], i["requests"], i["live"], i["this_worker"]) for i in scope["instances"]] == [
        ("0a1b2c3d", 2, False, False), ("7e62cb89", 5, True, True)]
    assert scope["instances"][1]["process"] == "host:42"


# -- from real instruments: Prometheus' answers equal the Redis view's merge of the same instances

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scraped(snapshots: Sequence[Snapshot]) -> list[tuple[str, dict[str, str], float]]:
    """Every sample Prometheus holds of these instances: the Collector's names, an ``instance`` each."""
    out = []
    for index, snapshot in enumerate(snapshots):
        for line in render(snapshot).splitlines():
            if (match := _SAMPLE.match(line)) is not None:
                labels = dict(_LABEL.findall(match.group(2) or ""))
                out.append((match.group(1), {**labels, "instance": f"i{index}"}, float(match.group(3))))
    return out


def grouped(samples: Sequence[tuple[str, dict[str, str], float]], metric: str, by: Sequence[str],
            merge: str = "sum") -> list[pw.Sample]:
    """``sum by (...)`` (or ``max by``) of one metric's samples, as Prometheus aggregates them."""
    groups: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in samples:
        if name == metric:
            key = tuple((label, labels[label]) for label in by if labels.get(label, "") != "")
            before = groups.get(key)
            groups[key] = value if before is None else (max(before, value) if merge == "max" else before + value)
    return [(dict(key), value) for key, value in groups.items()]


def answers_for(snapshots: Sequence[Snapshot]) -> dict[pw.QueryKey, list[pw.Sample]]:
    """What the queries answer when every series was born inside the window (absent at its start)."""
    samples = scraped(snapshots)
    answers: dict[pw.QueryKey, list[pw.Sample]] = {}
    for s in pw.SERIES:
        by = list(s.labels)
        if s.kind == "histogram":
            answers[(s.name, "bucket")] = grouped(samples, f"{s.metric}_bucket", [*by, "le"])
            answers[(s.name, "sum")] = grouped(samples, f"{s.metric}_sum", by)
        else:
            answers[(s.name, "value")] = grouped(samples, s.metric, by, GAUGE_MERGE.get(s.name, "sum")
                                                 if s.kind == "gauge" else "sum")
    answers[pw.LAST_SEEN_BY_INSTANCE] = [({"instance": f"i{i}"}, 1.0) for i in range(len(snapshots))]
    answers[pw.DATA_START] = [({}, NOW - 3600.0)]  # the data is older than any window asked
    return answers


def worker(api: int, errors: int, hits: int, breaker: int) -> Snapshot:
    telemetry = build_telemetry(TelemetryConfig(service_name="test-service"))
    try:
        hist, ins = http_histogram(telemetry), telemetry.instruments
        for i in range(api):
            hist.record(0.02 * (1 + i % 7), request_attrs(API_ROUTE, 200))
        for _ in range(errors):
            hist.record(1.5, {**request_attrs(API_ROUTE, 503), "error.type": "503"})
        hist.record(0.001, request_attrs("/health", 200, "GET"))
        ins.cache_lookups.add(hits, {"llm_obs.cache.result": "hit", "llm_obs.cache.tier": "memory",
                                     "llm_obs.operation": "qa"})
        ins.cache_lookups.add(2, {"llm_obs.cache.result": "miss", "llm_obs.cache.tier": "none",
                                  "llm_obs.operation": "qa"})
        base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "offline", "gen_ai.request.model": "m"}
        ins.genai_duration.record(0.4, base)
        ins.genai_tokens.record(100 + api, {**base, "gen_ai.token.type": "input"})
        ins.db_duration.record(0.003, {"db.system.name": "redis", "db.operation.name": "GET"})
        ins.config_load.record(0.004, {"llm_obs.config.source": "environment"})
        ins.observe(CACHE_MEMORY, lambda: [Observation(1_000_000 * (api + 1), {"llm_obs.cache.tier": "memory"})])
        ins.observe(PROCESS_MEMORY, lambda: [Observation(100_000_000)])
        ins.observe(MEMORY_LIMIT, lambda: [Observation(1_000_000_000)])
        ins.observe(BREAKER_STATE, lambda: [Observation(breaker, {"llm_obs.circuit_breaker.name": "ai_service"})])
        return telemetry.reader.snapshot(NOW)
    finally:
        telemetry.shutdown()


def test_prometheus_answers_measure_as_the_merged_in_process_view() -> None:
    workers = [worker(40, 2, 9, 0), worker(25, 0, 3, 2), worker(7, 1, 0, 0)]
    local = Window(Snapshot(NOW - 300), combine([(s, True) for s in workers], NOW))
    from_prometheus = pw.window(answers_for(workers), NOW, 300)

    expected, got = measure(local), measure(from_prometheus)
    assert got == expected
    assert (got.requests, got.errors, got.cache_hits, got.open_breakers) == (75, 3, 12, ["ai_service"])
    assert got.memory_usage_percent == 30.0  # three workers' memory against the one (max) limit
    assert by_route(from_prometheus) == by_route(local)
