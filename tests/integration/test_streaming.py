"""``POST /v1/text_processing/process`` as server-sent events: chunk events then the answer, the same
answer the route gives without streaming; cached whole once complete, never when it broke off; a
vendor that breaks streams opens the breakers; failures before the stream are ordinary errors; a
client that goes away mid-stream ends the vendor's call."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService

from .conftest import llm_client

PROCESS = "/v1/text_processing/process"
TEXT = "The release is fast and reliable. Users love the simpler setup. The docs still have a gap."


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of each server-sent event in a whole response body."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    out = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def streamed_text(received: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for name, data in received if name == "chunk")


def test_a_streamed_answer_is_the_plain_answer_and_is_cached_whole(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    body = {"operation": "key_points", "text": TEXT, "options": {"max_points": 2}}

    received = events(client.post(PROCESS, json={**body, "stream": True}))
    *chunks, (last, result) = received
    assert last == "result" and chunks and {name for name, _ in chunks} == {"chunk"}
    assert streamed_text(received).split("\n") == result["key_points"]  # the model's text, as it came
    assert result["cache_hit"] is False and result["metadata"]["finish_reason"] == "stop"

    plain = client.post(PROCESS, json=body).json()  # the same answer, now from the cache
    assert plain["cache_hit"] is True and plain["key_points"] == result["key_points"]
    # a cache hit streams as the answer alone: there is no model text to stream
    (hit,) = events(client.post(PROCESS, json=body, headers={"Accept": "text/event-stream"}))
    assert hit[0] == "result" and hit[1]["cache_hit"] is True and hit[1]["key_points"] == result["key_points"]


def test_a_vendor_stream_reports_the_vendors_tokens(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    received = events(client.post(PROCESS, json={"operation": "summarize", "text": TEXT, "stream": True}))
    assert streamed_text(received) == "The release is fast and reliable."
    metadata = received[-1][1]["metadata"]
    usage = fake.last.body
    assert usage["stream"] is True and usage["stream_options"] == {"include_usage": True}
    assert metadata["input_tokens"] > 0 and metadata["output_tokens"] == 7  # the fake's own count
    assert "tokens_estimated" not in metadata


def test_a_stream_the_vendor_breaks_off_ends_in_an_error_event_and_caches_nothing(
        client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    body = {"operation": "summarize", "text": TEXT, "stream": True}
    fake.break_after = 2
    received = events(client.post(PROCESS, json=body))
    assert streamed_text(received) == "The release"
    name, error = received[-1]
    assert name == "error" and error["error"] == "llm_unavailable"
    assert "ended before the answer was complete" in error["detail"]

    fake.break_after = None
    again = events(client.post(PROCESS, json=body))  # nothing was cached: the vendor is asked again
    assert again[-1][1]["cache_hit"] is False and fake.calls == 2


def test_streams_that_break_open_the_breaker(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, resilience_failure_threshold=2)
    fake.break_after = 1
    for i in range(2):
        received = events(client.post(PROCESS, json={"operation": "summarize", "text": f"{TEXT} {i}", "stream": True}))
        assert received[-1][0] == "error"
    refused = client.post(PROCESS, json={"operation": "summarize", "text": f"{TEXT} 3", "stream": True})
    assert refused.status_code == 503 and refused.json()["error"] == "circuit_open"
    assert fake.calls == 2


def test_a_failure_before_the_stream_is_an_ordinary_error(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake)
    fake.fail_next(1, "error500")  # retried: the stream opens on the second attempt
    received = events(client.post(PROCESS, json={"operation": "summarize", "text": TEXT, "stream": True}))
    assert received[-1][0] == "result" and fake.calls == 2

    fake.mode = "error400"
    failed = client.post(PROCESS, json={"operation": "summarize", "text": f"{TEXT} again", "stream": True})
    assert failed.status_code == 502 and failed.headers["content-type"] == "application/json"
    assert failed.json()["error"] == "llm_bad_response"


def test_a_stream_flag_that_is_not_a_boolean_is_a_clear_422(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    response = client.post(PROCESS, json={"operation": "summarize", "text": TEXT, "stream": "maybe"})
    assert response.status_code == 422
    assert "stream" in response.text and "bool" in response.text


def test_a_client_that_goes_away_ends_the_vendors_call(fake: FakeOpenAI) -> None:
    fake.chunk_delay_s = 0.1
    fake.reply = " ".join(f"word{i}" for i in range(100))  # ten seconds of stream
    service = LiveService({"LLM_PROVIDER": "openai", "LLM_BASE_URL": fake.base_url, "LLM_API_KEY": "sk-test",
                           "REDIS_ENABLED": "false", "METRICS_EXPORT_INTERVAL": "1"}).start()
    try:
        body = {"operation": "summarize", "text": TEXT, "stream": True}
        with httpx.Client(base_url=service.url, timeout=10) as client:
            with client.stream("POST", PROCESS, json=body) as response:
                lines = response.iter_lines()
                assert next(line for line in lines if line.startswith("data:")) == 'data: {"text": "word0"}'
            # the client hung up after one word: the service stops reading the vendor's stream
            deadline = time.monotonic() + 10
            while fake.streams_abandoned == 0:
                assert time.monotonic() < deadline, "the vendor's stream is still being read"
                time.sleep(0.05)
            ai = poll_overview(client, lambda ai: ai["calls"] == 1)
            assert ai["errors"] == 1  # the call ended, as abandoned (error.type _OTHER)
            # nothing was cached: the same request goes to the vendor again, and completes
            fake.chunk_delay_s = 0.0
            received = events(client.post(PROCESS, json=body))
            assert received[-1][1]["cache_hit"] is False and fake.calls == 2
            assert poll_overview(client, lambda ai: ai["calls"] == 2)["streams"] == 2
    finally:
        service.stop()


def poll_overview(client: httpx.Client, ready: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        ai: dict[str, Any] = client.get("/internal/monitoring/overview").json()["ai_service"]
        if ready(ai) or time.monotonic() > deadline:
            return ai
        time.sleep(0.2)
