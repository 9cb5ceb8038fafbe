"""GenAI telemetry as the stores hold it after the real Collector: the offline provider reports no
tokens unless estimates are switched on, and then every token series is marked estimated; a vendor's
reported tokens arrive unmarked, with the server it called; prompt and completion text reach Jaeger
and VictoriaLogs only when content capture is opted in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService, RedisServer

from .stack import (
    SETUP_TIMEOUT,
    Stack,
    jaeger_spans,
    logsql,
    otlp_attributes,
    poll,
    prom_query,
    service_env,
    traceparent,
)

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 240)]

TEXT = "The release is fast and reliable. Users love the simpler setup. The docs still have a gap."


def serve(stack: Stack, redis_url: str, **env: str) -> tuple[str, LiveService]:
    name = f"genai-{uuid.uuid4().hex[:8]}"
    service = LiveService(service_env(stack, redis_url, name, **env)).start()
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for op in ("summarize", "sentiment", "key_points"):
            body = {"text": f"{TEXT} ({name})", "operation": op}
            assert client.post("/v1/text_processing/process", json=body).status_code == 200
    return name, service


def series(stack: Stack, promql: str) -> list[dict[str, str]]:
    return [r["metric"] for r in prom_query(stack.prometheus, promql)]


def test_offline_tokens_only_when_estimates_are_on_and_then_marked(stack: Stack, redis_server: RedisServer) -> None:
    off, off_service = serve(stack, redis_server.url)
    on, on_service = serve(stack, redis_server.url, LLM_ESTIMATE_TOKENS="true")
    try:
        # both services' calls have arrived (the duration metric), so an absent token series is real
        for name in (off, on):
            poll(lambda name=name: series(stack, f'gen_ai_client_operation_duration_seconds_count{{job="{name}"}}'),
                 f"{name}'s GenAI call durations in Prometheus")
        marked = poll(lambda: series(stack, f'gen_ai_client_token_usage_count{{job="{on}"}}'),
                      "the estimated token series")
        assert {m["gen_ai_token_type"] for m in marked} == {"input", "output"}
        assert all(m.get("llm_obs_usage_estimated") == "true" for m in marked), marked
        assert series(stack, f'gen_ai_client_token_usage_count{{job="{off}"}}') == []
    finally:
        off_service.stop()
        on_service.stop()


def test_a_vendors_reported_tokens_arrive_unmarked_with_its_server(stack: Stack, redis_server: RedisServer) -> None:
    with FakeOpenAI() as fake:
        fake.finish_reason = None  # and a vendor that gives no finish reason: none is invented
        name, service = serve(stack, redis_server.url, LLM_PROVIDER="openai", LLM_BASE_URL=fake.base_url,
                              LLM_MODEL="gpt-test", LLM_API_KEY="sk-test", LLM_ESTIMATE_TOKENS="true")
        try:
            tokens = poll(lambda: series(stack, f'gen_ai_client_token_usage_count{{job="{name}"}}'),
                          "the vendor's token series")
            assert {m["gen_ai_token_type"] for m in tokens} == {"input", "output"}
            assert not [m for m in tokens if "llm_obs_usage_estimated" in m], tokens
            assert {(m["server_address"], m["server_port"]) for m in tokens} == {("127.0.0.1", str(fake.port))}
            with httpx.Client(base_url=service.url, timeout=30) as client:
                answer = client.post("/v1/text_processing/process",
                                     json={"text": f"{TEXT} again", "operation": "summarize"}).json()
            assert answer["metadata"]["finish_reason"] is None and answer["metadata"]["input_tokens"] > 0
        finally:
            service.stop()


def chat_span(stack: Stack, trace_id: str) -> dict[str, Any]:
    spans = poll(lambda: [otlp_attributes(s.get("attributes", [])) for _r, s in jaeger_spans(stack.jaeger, trace_id)
                          if s["name"].startswith("chat ")], f"the chat span of trace {trace_id} in Jaeger")
    return dict(spans[0])


def test_content_is_absent_by_default_and_captured_when_opted_in(stack: Stack, redis_server: RedisServer) -> None:
    secret = f"Jane Roe's ticket {uuid.uuid4().hex[:10]}"
    # INFO: the access record is the default service's one log record of the request
    off = LiveService(service_env(stack, redis_server.url, f"genai-off-{uuid.uuid4().hex[:6]}",
                                  LOG_LEVEL="INFO")).start()
    on = LiveService(service_env(stack, redis_server.url, f"genai-on-{uuid.uuid4().hex[:6]}",
                                 OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_AND_EVENT")).start()
    try:
        traces = {}
        for label, service in (("off", off), ("on", on)):
            trace_id, header = traceparent()
            body = {"text": f"{TEXT} {secret} ({label}).", "operation": "summarize"}  # two texts: no cache hit
            resp = httpx.post(f"{service.url}/v1/text_processing/process", json=body,
                              headers={"traceparent": header}, timeout=30)
            assert resp.status_code == 200, resp.text
            traces[label] = trace_id
        captured = chat_span(stack, traces["on"])
        (message,) = json.loads(captured["gen_ai.input.messages"])
        assert secret in message["parts"][0]["content"]
        assert json.loads(captured["gen_ai.output.messages"])[0]["role"] == "assistant"
        event = poll(lambda: [r for r in logsql(stack.victorialogs, f'trace_id:{traces["on"]}')
                              if secret in json.dumps(r)], "the content event in VictoriaLogs")
        assert event[0]["span_id"] in {s["spanId"] for _r, s in jaeger_spans(stack.jaeger, traces["on"])}

        plain = chat_span(stack, traces["off"])
        assert not [k for k in plain if k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system"))]
        logs_off = poll(lambda: logsql(stack.victorialogs, f'trace_id:{traces["off"]}'),
                        "the default service's access record in VictoriaLogs")
        assert not [r for r in logs_off if secret in json.dumps(r)]
    finally:
        off.stop()
        on.stop()


def test_a_streamed_call_has_its_time_to_first_chunk_in_prometheus_and_jaeger(
        stack: Stack, redis_server: RedisServer) -> None:
    with FakeOpenAI(mode="slow", delay_s=0.3) as fake:  # the vendor thinks 0.3 s before its first chunk
        name = f"genai-stream-{uuid.uuid4().hex[:6]}"
        service = LiveService(service_env(stack, redis_server.url, name, LLM_PROVIDER="openai",
                                          LLM_BASE_URL=fake.base_url, LLM_MODEL="gpt-test",
                                          LLM_API_KEY="sk-test")).start()
        try:
            trace_id, header = traceparent()
            resp = httpx.post(f"{service.url}/v1/text_processing/process", timeout=30,
                              json={"text": f"{TEXT} ({name})", "operation": "summarize", "stream": True},
                              headers={"traceparent": header})
            assert resp.status_code == 200 and "event: result" in resp.text, resp.text
            first = poll(lambda: prom_query(
                stack.prometheus, f'gen_ai_client_operation_time_to_first_chunk_seconds_count{{job="{name}"}}'),
                "the time-to-first-chunk histogram in Prometheus")
            assert [float(r["value"][1]) for r in first] == [1.0]
            assert first[0]["metric"]["gen_ai_request_model"] == "gpt-test"
            seconds = float(prom_query(stack.prometheus, "gen_ai_client_operation_time_to_first_chunk_seconds_sum"
                                       f'{{job="{name}"}}')[0]["value"][1])
            assert 0.3 <= seconds < 5
            span = chat_span(stack, trace_id)
            assert span["gen_ai.request.stream"] is True
            assert float(span["gen_ai.response.time_to_first_chunk"]) == pytest.approx(seconds, abs=1e-3)
            assert int(span["gen_ai.usage.output_tokens"]) > 0  # asked for in the stream, and reported
        finally:
            service.stop()
