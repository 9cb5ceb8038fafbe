"""One click is one trace: from the frontend's span through its HTTPX call, the service's server span,
Redis and the GenAI call, to the LLM's HTTP request, all under the trace id the page shows, as the real
Collector received it (its file exporter)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.pipeline.stack import Stack, otlp_attributes, poll, spans_in_file

from .conftest import BACKEND_SERVICE, FRONTEND_SERVICE

if TYPE_CHECKING:
    from .browser import Browser

pytestmark = [pytest.mark.frontend, pytest.mark.timeout(1200)]

SERVER, CLIENT = 2, 3  # OTLP SpanKind


def test_one_click_is_one_trace_from_frontend_to_llm(browser: Browser, collector: Stack | None,
                                                     fake_llm: FakeOpenAI) -> None:
    if collector is None:
        pytest.skip("no Collector: Go is needed to build it (scripts/build-collector.sh)")
    token = uuid.uuid4().hex[:12]
    browser.open("/")
    browser.choose("operation", "Key points")
    browser.type_into(".st-key-text textarea", f"Trace check {token} starts in the browser. It ends at the LLM.")
    browser.click_button("Process")
    browser.wait_text(".st-key-process-result", "Served from cache\nno", "Key points")
    trace_id = browser.trace_id()
    assert trace_id in browser.text(".st-key-process-result")  # shown with the result too

    def whole() -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
        found = [(r, s, otlp_attributes(s.get("attributes", []))) for r, s in spans_in_file(collector.traces_file)
                 if s["traceId"] == trace_id]
        names = {(r["service.name"], s["name"]) for r, s, _a in found}
        complete = ((FRONTEND_SERVICE, "frontend.process_text") in names
                    and any(r["service.name"] == BACKEND_SERVICE and s.get("kind") == SERVER for r, s, _a in found)
                    and any("gen_ai.operation.name" in a for _r, _s, a in found)
                    and any(a.get("db.system.name") == "redis" for _r, _s, a in found))
        return found if complete else []

    found = poll(whole, f"frontend, server, Redis and GenAI spans of trace {trace_id} in {collector.traces_file}")
    by_service: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for resource, span, attrs in found:
        by_service.setdefault(resource["service.name"], []).append((span, attrs))
    assert set(by_service) == {FRONTEND_SERVICE, BACKEND_SERVICE}, sorted(by_service)

    # frontend: the user action (the root) -> its HTTPX CLIENT span
    action = next(s for s, _a in by_service[FRONTEND_SERVICE] if s["name"] == "frontend.process_text")
    assert not action.get("parentSpanId"), "the click's span is the root of the trace"
    assert otlp_attributes(action["attributes"])["llm_obs.operation"] == "key_points"
    client = [(s, a) for s, a in by_service[FRONTEND_SERVICE] if s.get("kind") == CLIENT]
    assert len(client) == 1, [s["name"] for s, _a in by_service[FRONTEND_SERVICE]]
    client_span, client_attrs = client[0]
    assert client_span["parentSpanId"] == action["spanId"]
    assert client_attrs["http.request.method"] == "POST" and client_attrs["http.response.status_code"] == 200

    # backend: its server span is the child of the frontend's HTTPX span (traceparent crossed the wire)
    server = [(s, a) for s, a in by_service[BACKEND_SERVICE] if s.get("kind") == SERVER]
    assert len(server) == 1, [s["name"] for s, _a in by_service[BACKEND_SERVICE]]
    server_span, server_attrs = server[0]
    assert server_span["parentSpanId"] == client_span["spanId"]
    assert server_attrs["http.route"] == "/v1/text_processing/process"
    genai = [a for _s, a in by_service[BACKEND_SERVICE] if "gen_ai.operation.name" in a]
    assert genai and genai[0]["gen_ai.request.model"] == "gpt-test"
    assert any(a.get("db.system.name") == "redis" for _s, a in by_service[BACKEND_SERVICE])

    # and on to the LLM: the backend's call to it carried the same trace id
    assert any(trace_id in r.headers.get("traceparent", "") for r in fake_llm.requests), \
        "no LLM request carried the click's trace id"
    print(f"trace {trace_id}: " + ", ".join(sorted(f"{r['service.name']}:{s['name']}" for r, s, _a in found)))
