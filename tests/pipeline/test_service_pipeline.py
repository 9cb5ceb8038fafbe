"""The real service -> real Collector -> real Prometheus (and Pushgateway), asserted as a user sees it:
every name the dashboards and alert rules query exists, every dashboard panel has data (the stand-in for
Grafana), a request's trace arrives whole, exemplars lead from a metric to a real request's trace.

The service runs under uvicorn with the OpenAI-compatible provider pointed at a local fake (so GenAI
spans carry real usage tokens) and a real Redis; one provider error is retried, so the retry counter
exists too.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.monitoring import dashboards
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService, RedisServer
from tests.helpers.semconv import PROJECT, semconv_names

from .conftest import FIGURES
from .stack import (
    REPO_ROOT,
    SETUP_TIMEOUT,
    Stack,
    jaeger_spans,
    metric_names,
    otlp_attributes,
    poll,
    prom_api,
    service_env,
    traceparent,
)

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]

RULES_FILE = REPO_ROOT / "collector" / "prometheus" / "rules" / "kpi-alerts.yml"
API = "/v1/text_processing"
OPERATIONS = ("summarize", "sentiment", "key_points", "questions", "qa")
TEXT = ("OpenTelemetry gives every request a trace, and the Collector turns spans into metrics. "
        "Prometheus scrapes them; Grafana draws them. Operators ask questions about {topic}.")


@dataclass
class Traffic:
    service: LiveService
    name: str  # service.name: the `job` label of every series this service exports
    trace_ids: dict[str, str] = field(default_factory=dict)  # what -> trace id (hex) we sent
    statuses: list[int] = field(default_factory=list)


def process(traffic: Traffic, client: httpx.Client, operation: str, text: str, what: str | None = None,
            **extra: Any) -> httpx.Response:
    trace_id, header = traceparent()
    body: dict[str, Any] = {"text": text, "operation": operation, **extra}
    if operation == "qa":
        body.setdefault("question", "What do operators ask about?")
    resp = client.post(f"{API}/process", json=body, headers={"traceparent": header})
    traffic.statuses.append(resp.status_code)
    if what:
        traffic.trace_ids[what] = trace_id
    return resp


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def traffic(stack: Stack, redis_server: RedisServer, fake_llm: FakeOpenAI) -> Iterator[Traffic]:
    """One service, and the traffic of the module: every operation twice (miss, then hit), one streamed, a batch,
    the operations list, a few 4xx, one provider error that a retry hides."""
    name = f"pipeline-svc-{uuid.uuid4().hex[:8]}"
    service = LiveService(service_env(stack, redis_server.url, name, LLM_PROVIDER="openai",
                                      LLM_BASE_URL=fake_llm.base_url, LLM_MODEL="gpt-test",
                                      LLM_API_KEY="sk-test", RESILIENCE_PRESET="development",
                                      # priced, so the cost counter and its panel have data
                                      LLM_PRICES='{"gpt-test": {"input_per_million": 0.15, "output_per_million": 0.6}}',
                                      RESILIENCE_BASE_DELAY_SECONDS="0")).start()
    traffic = Traffic(service, name)
    run = uuid.uuid4().hex[:6]
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            for op in OPERATIONS:
                text = TEXT.format(topic=f"{op} {run}")
                assert process(traffic, client, op, text, what=f"{op} miss").status_code == 200
                hit = process(traffic, client, op, text, what=f"{op} hit")
                assert hit.status_code == 200 and hit.json()["cache_hit"] is True, hit.text
            # one streamed answer (server-sent events): the time-to-first-chunk panel has data
            streamed = process(traffic, client, "summarize", TEXT.format(topic=f"stream {run}"), what="streamed",
                               stream=True)
            assert streamed.status_code == 200 and "event: result" in streamed.text, streamed.text
            batch = client.post(f"{API}/batch_process", json={"requests": [
                {"text": TEXT.format(topic=f"batch {run}"), "operation": "summarize"},
                {"text": TEXT.format(topic=f"summarize {run}"), "operation": "summarize"}]})
            assert batch.status_code == 200 and batch.json()["completed"] == 2, batch.text
            assert client.get(f"{API}/operations").status_code == 200
            # a few 4xx: too short, qa without a question, an unknown operation
            assert process(traffic, client, "summarize", "short").status_code == 422
            assert client.post(f"{API}/process", json={"text": TEXT, "operation": "qa"}).status_code == 422
            assert process(traffic, client, "translate", TEXT).status_code == 422
            # one provider 500, retried (development preset: 2 attempts, no delay): the user sees a 200
            fake_llm.fail_next(1, "error500")
            assert process(traffic, client, "summarize", TEXT.format(topic=f"retry {run}"),
                           what="retried").status_code == 200
        yield traffic
    finally:
        service.stop()


# --- a. names and panels -------------------------------------------------------------------------
def queried_names() -> dict[str, set[str]]:
    """metric name -> where it is queried (dashboard panels and alert rules)."""
    where: dict[str, set[str]] = {}
    for uid, title, expr in dashboards.queries():
        for name in metric_names(expr):
            where.setdefault(name, set()).add(f"dashboard {uid}: {title}")
    for group in yaml.safe_load(RULES_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]):
                where.setdefault(name, set()).add(f"rule {rule.get('alert') or rule.get('record')}")
    return where


# Names that exist only once something failed, so a healthy stack never has them. Their panels use
# `or vector(0)` (checked below: they still return data); the name itself is checked against the
# Collector binary, which is where it comes from.
FAILURE_ONLY = {
    # Collector v0.165 records export failures only when one happens (no zero-valued series).
    "otelcol_exporter_send_failed_spans_total": "otelcol_exporter_send_failed_spans",
}


def collector_binary() -> Path:
    out = subprocess.run([str(REPO_ROOT / "scripts" / "build-collector.sh")], capture_output=True, text=True,
                         check=True, timeout=SETUP_TIMEOUT)
    return Path(out.stdout.strip().splitlines()[-1])


def test_every_queried_name_exists_and_every_panel_has_data(stack: Stack, traffic: Traffic) -> None:
    where = queried_names()
    assert "http_server_request_duration_seconds_bucket" in where and "llm_obs_cache_lookups_total" in where

    binary = collector_binary().read_bytes()
    for name, instrument in FAILURE_ONLY.items():
        assert instrument.encode() in binary, f"{name}: {instrument} is not a metric of the built Collector"

    def missing() -> set[str]:
        present = set(prom_api(stack.prometheus, "label/__name__/values"))
        firing = [a for a in prom_api(stack.prometheus, "alerts")["alerts"] if a["state"] == "firing"]
        exempt = set(FAILURE_ONLY) | (set() if firing else {"ALERTS"})  # ALERTS: once an alert fired
        return set(where) - present - exempt

    # The service exports every 2 s, Prometheus scrapes every 5 s.
    deadline = time.monotonic() + 60
    while (absent := missing()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not absent, "queried but never emitted: " + "; ".join(f"{n} ({', '.join(sorted(where[n]))})"
                                                                  for n in sorted(absent))

    # This service's own series carry the exact names too (not only some other test's).
    own = set(prom_api(stack.prometheus, "label/__name__/values", **{"match[]": f'{{job="{traffic.name}"}}'}))
    app_names = {n for n in where if not n.startswith(("otelcol_", "ALERTS", "up"))}
    assert app_names <= own, f"not exported by the service: {sorted(app_names - own)}"

    # Every panel's query returns data, as Grafana would show it (rate() needs two scrapes).
    def empty_panels() -> list[str]:
        return [f"{uid} / {title}: {expr}" for uid, title, expr in dashboards.queries()
                if not stack.query(expr)]

    deadline = time.monotonic() + 60
    while (empty := empty_panels()) and time.monotonic() < deadline:
        time.sleep(2)
    assert not empty, "panels without data on a healthy stack:\n" + "\n".join(empty)


def test_cache_hits_and_misses_and_4xx_are_visible(stack: Stack, traffic: Traffic) -> None:
    job = f'job="{traffic.name}"'

    def lookups() -> dict[str, float]:
        series = stack.query(f"sum by (llm_obs_cache_result) (llm_obs_cache_lookups_total{{{job}}})")
        return {s["metric"].get("llm_obs_cache_result", ""): float(s["value"][1]) for s in series}

    found = poll(lambda: (v := lookups()) and v.get("hit", 0) >= 5 and v.get("miss", 0) >= 5 and v,
                 "cache hits and misses of this service in Prometheus")
    assert set(found) == {"hit", "miss"}
    statuses = poll(lambda: {s["metric"]["http_response_status_code"] for s in stack.query(
        f'http_server_request_duration_seconds_count{{{job},http_route="{API}/process"}}')} >= {"200", "422"}
        and stack.query(f'http_server_request_duration_seconds_count{{{job},http_route="{API}/process"}}'),
        "200 and 422 answers of /process")
    assert {s["metric"]["http_request_method"] for s in statuses} == {"POST"}
    # Every operation reached the LLM (GenAI metrics) with the model it was asked for.
    genai = poll(lambda: stack.query(f"gen_ai_client_operation_duration_seconds_count{{{job}}}"),
                 "gen_ai_client_operation_duration_seconds_count")
    assert {s["metric"]["gen_ai_request_model"] for s in genai} == {"gpt-test"}
    assert {s["metric"]["gen_ai_provider_name"] for s in genai} == {"openai"}
    retries = poll(lambda: stack.query(f"llm_obs_retry_attempts_total{{{job}}} > 0"),
                   "llm_obs_retry_attempts_total > 0")
    assert retries


# --- b. traces, span metrics, exemplars --------------------------------------------------------------
def test_request_trace_reaches_jaeger_whole(stack: Stack, traffic: Traffic) -> None:
    trace_id = traffic.trace_ids["summarize miss"]

    def spans() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        found = jaeger_spans(stack.jaeger, trace_id)
        kinds = [otlp_attributes(s.get("attributes", [])) for _r, s in found]
        ok = (any("http.route" in a for a in kinds) and any(a.get("db.system.name") == "redis" for a in kinds)
              and any("gen_ai.operation.name" in a for a in kinds))
        return found if ok else []

    found = poll(spans, f"server, Redis and GenAI spans of trace {trace_id} in Jaeger")
    assert {r["service.name"] for r, _s in found} == {traffic.name}
    by_attrs = [(s, otlp_attributes(s.get("attributes", []))) for _r, s in found]

    server = [(s, a) for s, a in by_attrs if s.get("kind") == 2 and "http.route" in a]  # SPAN_KIND_SERVER
    assert len(server) == 1, [s["name"] for s, _a in by_attrs]
    _span, attrs = server[0]
    assert attrs["http.route"] == f"{API}/process"  # the template, never the raw path
    assert attrs["http.response.status_code"] == 200 and attrs["http.request.method"] == "POST"

    redis_ops = {a.get("db.operation.name") for _s, a in by_attrs if a.get("db.system.name") == "redis"}
    assert redis_ops >= {"PIPELINE", "SET"}, redis_ops  # the lookup (GET and PTTL pipelined), the write

    genai = [a for _s, a in by_attrs if "gen_ai.operation.name" in a]
    assert genai, "no GenAI span"
    g = genai[0]
    assert g["gen_ai.provider.name"] == "openai" and g["gen_ai.request.model"] == "gpt-test"
    assert g["gen_ai.usage.input_tokens"] > 0 and g["gen_ai.usage.output_tokens"] > 0
    # Prompt and completion text are not recorded by default.
    assert not any("prompt" in k or "completion" in k for k in g), sorted(g)
    print(f"trace {trace_id}: {len(found)} spans: " + ", ".join(sorted(s["name"] for _r, s in found)))


def _exemplar_trace_ids(stack: Stack, selector: str, since: float) -> set[str]:
    data = prom_api(stack.prometheus, "query_exemplars", query=selector, start=since - 120, end=time.time() + 60)
    return {e["labels"].get("trace_id", "") for series in data for e in series["exemplars"]}


def test_span_metrics_and_exemplars_lead_to_real_requests(stack: Stack, traffic: Traffic) -> None:
    """Exemplars: the SDK's own http.server.request.duration histogram carries them (the Python SDK
    keeps trace-based exemplars by default; OTLP -> the Collector's prometheus exporter, OpenMetrics ->
    Prometheus' exemplar storage), and so does the span metrics histogram.

    The SDK keeps an exemplar for ONE export interval (2 s here), and Prometheus scrapes every 5 s, so
    a given request's exemplar is caught about 2 times in 5: requests keep coming until one is. (In
    `make stack`, METRICS_EXPORT_INTERVAL=15 s >= the 5 s scrape: every exemplar is caught.)"""
    job = f'service_name="{traffic.name}"'
    calls = poll(lambda: stack.query(
        f'traces_span_metrics_calls_total{{{job},span_kind="SPAN_KIND_SERVER",http_route="{API}/process"}} > 0'),
        "span metrics of the service's server spans")
    assert {s["metric"]["http_request_method"] for s in calls} == {"POST"}

    since = time.time() - 300
    sdk = f'http_server_request_duration_seconds_bucket{{job="{traffic.name}",http_route="{API}/process"}}'
    spanmetrics = f'traces_span_metrics_duration_seconds_bucket{{{job},http_route="{API}/process"}}'
    text = TEXT.format(topic="exemplars")
    with httpx.Client(base_url=traffic.service.url, timeout=10) as client:
        def caught(selector: str) -> set[str]:
            process(traffic, client, "sentiment", text, what=f"exemplar probe {len(traffic.trace_ids)}")
            return _exemplar_trace_ids(stack, selector, since) & set(traffic.trace_ids.values())

        found = poll(lambda: caught(sdk), f"an exemplar on {sdk} with the trace id of a request we sent",
                     interval=0.5)
        poll(lambda: caught(spanmetrics), f"an exemplar on {spanmetrics} with the trace id of a request we sent",
             interval=0.5)
    # ... and the exemplar's trace id opens the request's trace in Jaeger.
    exemplar = sorted(found)[0]
    poll(lambda: jaeger_spans(stack.jaeger, exemplar), f"the exemplar's trace {exemplar} in Jaeger")
    FIGURES["exemplars"] = ("the SDK histogram http_server_request_duration_seconds_bucket carries the request's "
                            f"trace id (e.g. {sorted(found)[0]}); traces_span_metrics_duration_seconds_bucket too")


def shipped_export_interval() -> str:
    """METRICS_EXPORT_INTERVAL as `make stack` (scripts/stack.sh) and docker-compose.yml give it: the
    same in both, or this test would stand for one of them only."""
    stack_sh = re.search(r"METRICS_EXPORT_INTERVAL=\$\{METRICS_EXPORT_INTERVAL:-(\d+)\}",
                         (REPO_ROOT / "scripts" / "stack.sh").read_text())
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    backend = next(s for s in compose["services"].values() if "METRICS_EXPORT_INTERVAL" in s.get("environment", {}))
    assert stack_sh and stack_sh[1] == str(backend["environment"]["METRICS_EXPORT_INTERVAL"])
    return stack_sh[1]


def test_exemplars_reach_prometheus_as_shipped(stack: Stack, redis_server: RedisServer) -> None:
    """With the export interval `make stack` and compose ship (15 s, longer than the 5 s scrape) and the
    Pushgateway pusher and runbook calls collecting in between, a burst of requests then silence: the
    SDK histogram's exemplars still reach Prometheus (each bucket keeps its newest exemplar until a newer
    one replaces it, instrumentation/exemplars.py), and lead to requests we sent."""
    name = f"shipped-{uuid.uuid4().hex[:8]}"
    env = service_env(stack, redis_server.url, name, METRICS_EXPORT_INTERVAL=shipped_export_interval())
    env.pop("OTEL_METRIC_EXPORT_INTERVAL")  # as shipped: the history interval drives the export
    service = LiveService(env).start()
    sent: set[str] = set()
    sdk = f'http_server_request_duration_seconds_bucket{{job="{name}",http_route="{API}/process"}}'
    since = time.time()
    try:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            for i in range(10):
                trace_id, header = traceparent()
                response = client.post(f"{API}/process", headers={"traceparent": header},
                                       json={"text": TEXT.format(topic=f"shipped {i}"), "operation": "sentiment"})
                assert response.status_code == 200, response.text
                sent.add(trace_id)
            for _ in range(3):  # collections right after the burst: each one is exported too
                assert client.get("/internal/monitoring/health").status_code == 200

            def caught() -> set[str]:
                client.get("/internal/monitoring/health")  # a collection with no new request in between
                return _exemplar_trace_ids(stack, sdk, since) & sent

            found = poll(caught, f"an exemplar on {sdk} from the burst we sent", timeout=90, interval=2)
    finally:
        service.stop()
    FIGURES["exemplars as shipped"] = (f"export every {shipped_export_interval()} s, scrape 5 s: "
                                       f"{len(found)} of the burst's trace ids on the SDK histogram")


# --- e. freshness ----------------------------------------------------------------------------------
def test_freshness_request_to_prometheus(stack: Stack, traffic: Traffic) -> None:
    """Seconds from a request to its count being queryable (export every 2 s, scrape every 5 s here)."""
    promql = (f'sum(http_server_request_duration_seconds_count{{job="{traffic.name}",'
              f'http_route="{API}/operations"}})')

    def value() -> float:
        result = stack.query(promql)
        return float(result[0]["value"][1]) if result else 0.0

    with httpx.Client(base_url=traffic.service.url, timeout=10) as client:
        figures = []
        for _ in range(3):
            before = poll(value, f"{promql} present")
            start = time.monotonic()
            assert client.get(f"{API}/operations").status_code == 200

            def counted(expected: float = before + 1) -> bool:
                return value() >= expected

            poll(counted, f"{promql} to count the request", timeout=30, interval=0.1)
            figures.append(time.monotonic() - start)
    FIGURES["freshness (request -> queryable in Prometheus, export 2 s + scrape 5 s)"] = (
        ", ".join(f"{f:.1f} s" for f in figures) + f" (max {max(figures):.1f} s)")
    print(f"freshness: {figures}")
    assert max(figures) < 30


# --- f. Pushgateway --------------------------------------------------------------------------------
def _pusher_wired() -> bool:
    """Does the app start a PushgatewayPusher anywhere but in its own module?"""
    app_dir = REPO_ROOT / "app"
    return any("PushgatewayPusher" in p.read_text() for p in app_dir.rglob("*.py") if p.name != "pushgateway.py")


@pytest.mark.xfail(condition=not _pusher_wired(), reason="waiting for wiring", strict=False)
def test_external_monitoring_pushes_to_the_pushgateway(stack: Stack, traffic: Traffic) -> None:
    sample = re.compile(r'^llm_obs_cache_lookups_total\{[^}]*job="' + re.escape(traffic.name) + r'"', re.M)

    def pushed() -> bool:
        return bool(sample.search(httpx.get(f"{stack.pushgateway_url}/metrics", timeout=5).text))

    poll(pushed, f'llm_obs_cache_lookups_total{{job="{traffic.name}"}} on the Pushgateway', timeout=20)
    # Prometheus sees that the service pushes (push_time_seconds per group) but keeps only the series
    # that came through the Collector (they carry service_name): the pushed copies would double sums.
    poll(lambda: stack.query(f'push_time_seconds{{job="{traffic.name}"}}'), "push_time_seconds in Prometheus")
    assert not stack.query(f'llm_obs_cache_lookups_total{{job="{traffic.name}",service_name=""}}')


# --- names after the Collector -------------------------------------------------------------------
# Prometheus' own labels and what the Collector's prometheus exporter adds (scope, target identity)
PROMETHEUS_LABELS = {"__name__", "job", "instance", "le", "otel_scope_name", "otel_scope_version",
                     "otel_scope_schema_url"}
PROMETHEUS_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_seconds", "_bytes", "_ratio")


def prometheus_base(name: str) -> str:
    """A Prometheus metric name without the suffixes the Collector's translation appends."""
    while (suffix := next((s for s in PROMETHEUS_SUFFIXES if name.endswith(s)), None)) is not None:
        name = name[: -len(suffix)]
    return name


def test_every_name_that_reaches_the_stores_is_the_conventions_or_the_projects(
        stack: Stack, traffic: Traffic) -> None:
    known = semconv_names()
    underscored = {n.replace(".", "_") for n in known}
    project = PROJECT.replace(".", "_")
    expected = {"gen_ai_client_operation_time_to_first_chunk_seconds_count",
                "db_client_operation_duration_seconds_count", "llm_obs_cache_lookups_total"}

    def exported() -> list[dict[str, str]]:
        found = [r["metric"] for r in stack.query(f'{{job="{traffic.name}", otel_scope_name!=""}}')
                 if not r["metric"]["__name__"].startswith("traces_span_metrics_")]
        return found if expected <= {m["__name__"] for m in found} else []

    # the SDK's metrics: not the Collector's span metrics (its names), nor the Pushgateway's (no scope)
    ours = poll(exported, f"the SDK's series of {traffic.name} in Prometheus")
    strangers = sorted({m["__name__"] for m in ours
                        if prometheus_base(m["__name__"]) not in underscored and not m["__name__"].startswith(project)}
                       | {label for m in ours for label in m
                          if label not in PROMETHEUS_LABELS and label not in underscored
                          and not label.startswith(project)})
    assert not strangers, f"metric or label names neither the conventions' nor {project}*: {strangers}"

    attributes: set[str] = set()
    for what in ("summarize miss", "streamed", "retried"):
        spans = poll(lambda what=what: jaeger_spans(stack.jaeger, traffic.trace_ids[what]),
                     f"the {what} trace in Jaeger")
        attributes |= {k for _r, s in spans for k in otlp_attributes(s.get("attributes", []))}
    assert {"gen_ai.request.stream", "gen_ai.response.time_to_first_chunk", "db.operation.batch.size"} <= attributes
    # "@jaeger@warnings" is Jaeger's note at query time (the test's traceparent names a parent it never saw)
    strangers = sorted(k for k in attributes if k not in known and not k.startswith((PROJECT, "@jaeger@")))
    assert not strangers, f"span attributes in Jaeger neither the conventions' nor {PROJECT}*: {strangers}"
    # Redis pipeline spans are named as the conventions say, bounded whatever the batch holds
    names = {s["name"] for what in ("summarize miss", "streamed")
             for _r, s in jaeger_spans(stack.jaeger, traffic.trace_ids[what])}
    assert "PIPELINE" in names and max(len(n.split()) for n in names) <= 3, names
