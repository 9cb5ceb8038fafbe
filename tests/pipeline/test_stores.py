"""The stores behind the Collector, read back through their own APIs: a request's trace in Jaeger by
its trace id (/api/v3/traces/{id} and the classic /api/traces/{id}), OTLP log records in VictoriaLogs
by LogsQL (trace_id:<id>); and a store killed mid-traffic: no request fails, and what was sent during
the outage arrives once the store is back (the Collector's exporters queue and retry)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.helpers.processes import LiveService, RedisServer

from .conftest import FIGURES
from .stack import SETUP_TIMEOUT, Stack, TrafficLoop, jaeger_spans, logsql, poll, service_env, traceparent

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 300)]

API = "/v1/text_processing"
SERVER = 2  # OTLP SpanKind


@contextmanager
def sdk_logger(stack: Stack, service: str) -> Iterator[logging.Logger]:
    """A stdlib logger whose records go, through the OpenTelemetry SDK's own LoggerProvider and
    OTLPLogExporter, to the stack's Collector (flushed on exit)."""
    provider = LoggerProvider(resource=Resource.create({"service.name": service,
                                                        "service.instance.id": uuid.uuid4().hex}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{stack.otlp_http}/v1/logs", timeout=10)))
    logger = logging.getLogger(f"tests.pipeline.{service}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        provider.shutdown()


@contextmanager
def in_span(trace_id: str, span_id: str) -> Iterator[None]:
    """Make (trace_id, span_id) the current span context, as a request's span would be."""
    context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False,
                          trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(context)):
        yield


def post(client: httpx.Client, text: str) -> tuple[str, str, int]:
    """One /process request under a traceparent we choose: (trace id, parent span id, status)."""
    trace_id, header = traceparent()
    resp = client.post(f"{API}/process", json={"text": text, "operation": "summarize"},
                       headers={"traceparent": header})
    return trace_id, header.split("-")[2], resp.status_code


def test_request_trace_is_found_in_jaeger_by_its_trace_id(stack: Stack, redis_server: RedisServer) -> None:
    name = f"pipeline-jaeger-{uuid.uuid4().hex[:8]}"
    service = LiveService(service_env(stack, redis_server.url, name)).start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            trace_id, remote_parent, status = post(client, "Jaeger keeps every span of this request together.")
        assert status == 200

        def whole() -> list[tuple[dict[str, object], dict[str, object]]]:
            found = jaeger_spans(stack.jaeger, trace_id)
            has_server = any(s.get("kind") == SERVER for _r, s in found)
            return found if has_server and len(found) >= 2 else []

        found = poll(whole, f"server and child spans of trace {trace_id} in Jaeger")
    finally:
        service.stop()
    assert {r["service.name"] for r, _s in found} == {name}
    spans = [s for _r, s in found]
    assert {s["traceId"] for s in spans} == {trace_id}
    ids = {s["spanId"] for s in spans}
    assert len(ids) == len(spans), "span ids repeat"
    server = [s for s in spans if s.get("kind") == SERVER]
    assert len(server) == 1, [s["name"] for s in spans]
    # Parent links intact: the server span's parent is the span of our traceparent (not in this trace's
    # spans: the caller's), and every other span hangs off a span of the trace.
    assert server[0]["parentSpanId"] == remote_parent
    children = [s for s in spans if s is not server[0]]
    assert children and all(s.get("parentSpanId") in ids for s in children), \
        [(s["name"], s.get("parentSpanId")) for s in children]

    # The classic Jaeger API (what the UI reads) has the same trace, and the service is listed.
    resp = httpx.get(f"{stack.jaeger}/api/traces/{trace_id}", timeout=10)
    resp.raise_for_status()
    (classic,) = resp.json()["data"]
    assert {s["spanID"] for s in classic["spans"]} == ids
    by_id = {s["spanID"]: s for s in classic["spans"]}
    for s in children:
        assert [(r["refType"], r["spanID"]) for r in by_id[s["spanId"]]["references"]] == \
            [("CHILD_OF", s["parentSpanId"])]
    services = httpx.get(f"{stack.jaeger}/api/services", timeout=10).json()["data"]
    assert name in services
    FIGURES["jaeger trace"] = f"{len(spans)} spans of one request: " + ", ".join(sorted(str(s["name"]) for s in spans))


def test_sdk_log_records_reach_victorialogs_with_their_trace_context(stack: Stack) -> None:
    service = f"pipeline-logs-{uuid.uuid4().hex[:8]}"
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    with sdk_logger(stack, service) as logger, in_span(trace_id, span_id):
        logger.info("cache miss for %s", "summarize")
        logger.error("provider failed: %s", "timeout")

    records = poll(lambda: (r := logsql(stack.victorialogs, f"trace_id:{trace_id}")) and len(r) >= 2 and r,
                   f"2 log records with trace_id {trace_id} in VictoriaLogs")
    assert len(records) == 2
    by_text = {r["_msg"]: r for r in records}
    assert set(by_text) == {"cache miss for summarize", "provider failed: timeout"}
    info, error = by_text["cache miss for summarize"], by_text["provider failed: timeout"]
    assert (info["severity_text"], error["severity_text"]) == ("INFO", "ERROR")
    assert (info["severity_number"], error["severity_number"]) == ("9", "17")
    for r in records:
        assert (r["trace_id"], r["span_id"]) == (trace_id, span_id)
        assert r["service.name"] == service
        assert r["deployment.environment.name"] == "local"  # the Collector's resource processor
        # The stream key is what VL-Stream-Fields names (base.yaml), not the random instance id.
        assert r["_stream"] == f'{{deployment.environment.name="local",service.name="{service}"}}'


@pytest.mark.parametrize("store", ["jaeger", "victorialogs"])
def test_store_killed_mid_traffic_fails_no_request_and_the_outage_data_arrives(
        store: str, new_stack: Callable[..., Stack], redis_server: RedisServer) -> None:
    """SIGKILL a store mid-traffic; during the outage send OUTAGE requests (each with its trace id)
    and as many log records (each in one of those traces); restart the store. Every request answers
    200, and once the store is back it has every outage trace (Jaeger) and record (VictoriaLogs): a
    few hundred spans and OUTAGE records, far inside the exporters' queue (20000 items, base.yaml)."""
    outage = 15
    stack = new_stack()
    name = f"pipeline-{store}-outage-{uuid.uuid4().hex[:8]}"
    service = LiveService(service_env(stack, redis_server.url, name)).start()
    sent: dict[str, str] = {}  # trace id -> the server span's parent (our traceparent's span)
    try:
        texts = [f"Text number {n} about a store going away and coming back." for n in range(5)]
        body = lambda i: {"text": texts[i % len(texts)], "operation": "summarize"}  # noqa: E731
        with TrafficLoop(service.url, body, interval=0.2) as loop, sdk_logger(stack, name) as logger, \
                httpx.Client(base_url=service.url, timeout=30) as client:
            poll(lambda: len(loop.statuses) >= 5, "traffic before the kill")
            stack.kill(store)
            statuses = []
            for i in range(outage):
                trace_id, parent, status = post(client, f"Outage request {i}: the store is down right now.")
                statuses.append(status)
                sent[trace_id] = parent
                with in_span(trace_id, parent):
                    logger.warning("outage record %d", i)
            stack.script(f"{store}.sh", "start")
            restarted_at = len(loop.statuses)
            poll(lambda: len(loop.statuses) >= restarted_at + 5, "requests after the restart")
        all_statuses = loop.statuses + statuses
        assert set(all_statuses) == {200}, {s: all_statuses.count(s) for s in set(all_statuses)}

        def traces_in_jaeger() -> int:
            return sum(1 for t in sent if any(s.get("kind") == SERVER for _r, s in jaeger_spans(stack.jaeger, t)))

        def records_in_victorialogs() -> int:
            return len(logsql(stack.victorialogs, f'service.name:="{name}" AND "outage record"'))

        traces = poll(lambda: (n := traces_in_jaeger()) == outage and n, f"all {outage} outage traces in Jaeger",
                      timeout=90)
        records = poll(lambda: (n := records_in_victorialogs()) == outage and n,
                       f"all {outage} outage log records in VictoriaLogs", timeout=90)
        assert traces == records == outage
        FIGURES[f"{store} outage"] = (f"{len(all_statuses)} requests, all 200; {outage} traces and {outage} log "
                                      f"records sent while {store} was down, all there after its restart")
    finally:
        service.stop()


def queued(stack: Stack, exporter: str) -> int:
    """otelcol_exporter_queue_size of one exporter, read from the Collector's own /metrics: the items
    (spans, log records) it holds for a store, those being retried included."""
    text = httpx.get(f"http://127.0.0.1:{stack.ports['OTELCOL_METRICS_PORT']}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("otelcol_exporter_queue_size{") and f'exporter="{exporter}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def test_collector_restarted_while_the_stores_are_down_delivers_its_persistent_queue(
        new_stack: Callable[..., Stack], redis_server: RedisServer) -> None:
    """Both stores down; requests and log records arrive at the Collector and wait in its exporters'
    queues; the Collector is restarted (SIGTERM, then a new process) while the stores are still down;
    then the stores come back. The queues live in file_storage (local.yaml), so the new Collector
    delivers every trace and record the old one had queued."""
    sent = 10
    stack = new_stack()
    name = f"pipeline-persistent-{uuid.uuid4().hex[:8]}"
    service = LiveService(service_env(stack, redis_server.url, name)).start()
    try:
        stack.kill("jaeger")
        stack.kill("victorialogs")
        trace_ids = []
        with sdk_logger(stack, name) as logger, httpx.Client(base_url=service.url, timeout=30) as client:
            for i in range(sent):
                trace_id, parent, status = post(client, f"Queued request {i}: both stores are down.")
                assert status == 200, (i, status)
                trace_ids.append(trace_id)
                with in_span(trace_id, parent):
                    logger.warning("queued record %d", i)

        # Everything has reached the queues (the service's spans leave it within 0.5 s, then the
        # Collector's batch processor waits up to 1 s): the span count stops growing.
        counts: list[int] = []

        def settled() -> bool:
            counts.append(queued(stack, "otlp_grpc/jaeger"))
            return len(counts) >= 3 and counts[-1] == counts[-3] >= 2 * sent

        poll(settled, f"the spans of {sent} requests queued for Jaeger", interval=0.5)
        poll(lambda: queued(stack, "otlp_http/victorialogs") >= sent, f"{sent} log records queued for VictoriaLogs")
        spans_before = queued(stack, "otlp_grpc/jaeger")
        # Ours, and any the service itself logged meanwhile (its own warnings go to the same pipeline).
        records_before = queued(stack, "otlp_http/victorialogs")

        stack.script("collector.sh", "stop")
        stack.script("collector.sh", "start")
        # The new process found them on disk.
        assert queued(stack, "otlp_grpc/jaeger") == spans_before
        assert queued(stack, "otlp_http/victorialogs") == records_before
        stack.script("jaeger.sh", "start")
        stack.script("victorialogs.sh", "start")

        poll(lambda: all(jaeger_spans(stack.jaeger, t) for t in trace_ids), f"all {sent} traces in Jaeger",
             timeout=90)
        records = poll(lambda: (r := logsql(stack.victorialogs, f'service.name:="{name}" AND "queued record"'))
                       and len(r) >= sent and r, f"all {sent} log records in VictoriaLogs", timeout=90)
        assert sorted(r["_msg"] for r in records) == sorted(f"queued record {i}" for i in range(sent))
        FIGURES["persistent queue"] = (f"{spans_before} spans and {sent} log records queued while both stores were "
                                       "down survived a Collector restart and were delivered")
    finally:
        service.stop()
