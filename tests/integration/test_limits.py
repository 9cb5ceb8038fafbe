"""Bad input refused early and answered briefly: 413 before a big body is read, 422 without the echo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.api.limits import BodyLimit, BodySizeLimitMiddleware
from app.settings import Settings
from tests.helpers.processes import LiveService

PROCESS = "/v1/text_processing/process"
BATCH = "/v1/text_processing/batch_process"
TEXT = "Limits keep one client from holding the service. Clear answers keep the client fixing its request."


def chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A body without Content-Length: httpx sends it with Transfer-Encoding: chunked."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


def test_default_limit_takes_the_largest_batch_even_as_escaped_non_latin_text(client_for: Any) -> None:
    limit = Settings(_env_file=None).max_request_bytes  # type: ignore[call-arg]
    ascii_batch = {"requests": [{"text": "a" * 10_000, "operation": "summarize"}] * 50}
    cjk_batch = {"requests": [{"text": "观测" * 5_000, "operation": "qa", "question": "问" * 1_000}] * 50}
    assert len(json.dumps(ascii_batch)) < limit / 8  # ~0.5 MB
    escaped = json.dumps(cjk_batch)  # ensure_ascii: 6 bytes per character, ~3.3 MB
    assert 3_000_000 < len(escaped) < limit
    client = client_for(redis_enabled=False)
    response = client.post(BATCH, content=escaped, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["completed"] == 50


def test_a_declared_length_over_the_limit_is_413_before_anything_reads_the_body(client_for: Any) -> None:
    client = client_for(redis_enabled=False, max_request_bytes=4096)
    response = client.post(PROCESS, content=b"{" + b" " * 5000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413  # not 422: the broken JSON was never parsed
    body = response.json()
    assert "5001 bytes" in body["detail"] and "MAX_REQUEST_BYTES" in body["detail"] and "4096" in body["detail"]
    assert response.headers["connection"] == "close"
    assert client.post(PROCESS, json={"text": TEXT, "operation": "summarize"}).status_code == 200


def test_a_chunked_body_is_counted_and_refused_past_the_limit(client_for: Any) -> None:
    client = client_for(redis_enabled=False, max_request_bytes=4096)
    response = client.post(PROCESS, content=chunks(64 * 1024, 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.json()["detail"]
    small = json.dumps({"text": TEXT, "operation": "summarize"}).encode()
    assert client.post(PROCESS, content=iter([small[:20], small[20:]]),
                       headers={"Content-Type": "application/json"}).status_code == 200


async def test_the_middleware_never_calls_receive_for_a_declared_oversize_body() -> None:
    calls = {"receive": 0, "app": 0}
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls["app"] += 1

    async def receive() -> dict[str, Any]:
        calls["receive"] += 1
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = BodySizeLimitMiddleware(app, BodyLimit(1024, "MAX_REQUEST_BYTES"))
    scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": [(b"content-length", b"1025")]}
    await middleware(scope, receive, send)
    assert calls == {"receive": 0, "app": 0}
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["error"] == "request_too_large"


async def test_a_chunked_body_is_counted_whatever_content_length_says_beside_it() -> None:
    """h11 frames a body by its chunks when both headers come: a small Content-Length must not pass it."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * 512, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = BodySizeLimitMiddleware(app, BodyLimit(1024, "MAX_REQUEST_BYTES"))
    scope = {"type": "http", "method": "POST", "path": "/v1/x",
             "headers": [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")]}
    await middleware(scope, receive, send)
    assert sent[0]["status"] == 413


def test_restore_has_its_own_larger_limit(client_for: Any) -> None:
    client = client_for(redis_enabled=False, max_request_bytes=4096, max_restore_bytes=1024 * 1024)
    backup = client.get("/internal/cache/backup").json()
    backup["warnings"] = ["x" * 10_000]  # larger than MAX_REQUEST_BYTES, and ignored by the restore
    assert client.post("/internal/cache/restore", json=backup).status_code == 200
    backup["warnings"] = ["x" * 2_000_000]
    response = client.post("/internal/cache/restore", json=backup)
    assert response.status_code == 413 and "MAX_RESTORE_BYTES" in response.json()["detail"]


def test_more_than_50_items_is_422(client_for: Any) -> None:
    items = [{"text": f"{TEXT} {i}", "operation": "sentiment"} for i in range(51)]
    response = client_for(redis_enabled=False).post(BATCH, json={"requests": items})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "requests"] and "at most 50" in error["msg"] and error["type"] == "too_long"
    assert len(json.dumps(error["input"])) < 400  # not the 51 items back


def test_422_says_what_is_wrong_without_echoing_the_input(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    huge = "y" * 10_001
    response = client.post(PROCESS, json={"text": huge, "operation": "summarize"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "text"] and error["type"] == "string_too_long"
    assert "at most 10000 characters" in error["msg"] and error["ctx"] == {"max_length": 10000}
    assert error["input"].startswith("y" * 200) and "10001 characters in all" in error["input"]
    assert len(response.content) < 1000
    short = client.post(PROCESS, json={"text": "short", "operation": "summarize"}).json()["errors"][0]
    assert short["input"] == "short"  # a short input is shown as it was


def test_422_bounds_long_keys_and_many_errors(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    odd_key = "k" * 50_000
    response = client.post("/internal/monitoring/maintenance-mode/enable", json={odd_key: 1})
    assert response.status_code == 422
    assert len(response.content) < 2000 and response.json()["errors"][0]["type"] == "extra_forbidden"
    items = [{"text": "short", "operation": "nope"}] * 50
    many = client.post(BATCH, json={"requests": items})
    assert many.status_code == 422
    assert len(many.json()["errors"]) == 20 and many.json()["more_errors"] == 30  # one each: an unknown operation
    assert many.json()["detail"].endswith("; and 30 more")


@pytest.fixture(scope="module")
def live() -> Iterator[LiveService]:
    service = LiveService({"REDIS_ENABLED": "false", "MAX_REQUEST_BYTES": "65536"}).start()
    yield service
    service.stop()


def test_uvicorn_refuses_declared_and_chunked_oversize_bodies(live: LiveService) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        declared = client.post(PROCESS, content=b"x" * 100_000, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and "MAX_REQUEST_BYTES" in declared.json()["detail"]
        chunked = client.post(PROCESS, content=chunks(10 * 1024 * 1024), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413 and "65536" in chunked.json()["detail"]
        assert client.post(PROCESS, json={"text": TEXT, "operation": "summarize"}).status_code == 200
