"""/internal/* as an operator surface: a key when keys are configured, an audit line for every change,
and a production start-up that refuses to serve it open."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from pydantic import ValidationError

from app.settings import Settings
from tests.helpers.processes import ROOT, LiveService, free_port
from tests.runbook.guide import guide_text

_CURL = re.compile(r"curl\b(?P<opts>[^\n]*?)[\"']?http://localhost:8000(?P<path>/internal/[^\s\"'|)]*)(?P<rest>[^\n]*)")
_PARAMS = {"name": "ai_service", "preset": "production"}
API_KEY, INTERNAL_KEY = "app-key-7Qx", "ops-key-9Zr"


def guide_commands() -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of every /internal command of the guide, ``{name}`` filled in."""
    found: dict[tuple[str, str], bytes | None] = {}
    for m in _CURL.finditer(guide_text()):  # the guide, or its copy in docs/ in a clone without it
        method = "POST" if "-X POST" in m["opts"] else "GET"
        data = re.search(r"-d '([^']*)'", m["rest"])
        path = m["path"].format(**_PARAMS)
        found[(method, path)] = data[1].encode() if data else None
    return [(method, path, body) for (method, path), body in sorted(found.items())]


def internal_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route under /internal, path parameters filled in."""
    # FastAPI keeps included routers as branches of app.routes: walk them to the effective routes.
    routes = [(method, route.path.format(**_PARAMS)) for route in iter_route_contexts(app.routes)
              if (route.path or "").startswith("/internal") for method in sorted(route.methods or ())]
    assert len(routes) >= 40, routes  # the enumeration itself must see the operator surface
    return routes


def send(client: Any, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    if body is not None:  # as curl -d sends it: form content type, JSON bytes
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return client.request(method, path, content=body, headers=headers)


def test_the_guide_commands_work_unchanged_without_keys(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    commands = guide_commands()
    assert len(commands) >= 35 and any(method == "POST" for method, _, _ in commands)
    for method, path, body in commands:
        response = send(client, method, path, body)
        expected = 409 if path.endswith("/test-webhook") else 200  # no MONITORING_WEBHOOK_URL here
        assert response.status_code == expected, (method, path, response.text[:300])


def test_every_internal_route_needs_an_operator_key_when_one_is_configured(client_for: Any) -> None:
    client = client_for(redis_enabled=False, api_key=API_KEY, internal_api_key=INTERNAL_KEY)
    for method, path in internal_routes(client.app):
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="},
                        {"X-API-Key": INTERNAL_KEY, "Authorization": "Bearer wrong"},
                        {"X-API-Key": "wrong", "Authorization": f"Bearer {INTERNAL_KEY}"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text[:300])
            assert "key" in response.json()["detail"]
            assert response.headers["WWW-Authenticate"] == "Bearer"
        for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"},
                        {"X-API-Key": API_KEY, "Authorization": f"Bearer {INTERNAL_KEY}"}):
            response = client.request(method, path, headers=headers)
            assert response.status_code == 403, (method, path, headers, response.text[:300])
            assert "operator key" in response.json()["detail"]
        assert client.request(method, path, headers={"X-API-Key": INTERNAL_KEY}).status_code not in (401, 403)
    assert client.get("/health").status_code == 200  # liveness stays open


def test_a_client_key_cannot_download_or_clear_the_cache(client_for: Any) -> None:
    client = client_for(redis_enabled=False, api_key=API_KEY, internal_api_key=INTERNAL_KEY)
    process = {"text": "A result only its own client should read back.", "operation": "summarize"}
    assert client.post("/v1/text_processing/process", json=process, headers={"X-API-Key": API_KEY}).status_code == 200
    assert client.get("/internal/cache/backup", headers={"X-API-Key": API_KEY}).status_code == 403
    assert client.post("/internal/cache/clear", headers={"X-API-Key": API_KEY}).status_code == 403
    operator = {"Authorization": f"Bearer {INTERNAL_KEY}"}
    assert client.get("/internal/cache/stats", headers=operator).json()["tiers"]["memory"]["entries"] == 1


def test_the_guide_commands_work_with_an_operator_key_from_anywhere(client_for: Any) -> None:
    client = client_for("203.0.113.7", redis_enabled=False, api_key=API_KEY,
                        internal_api_key="first-ops-key", additional_internal_api_keys=f" {INTERNAL_KEY} , third")
    for method, path, body in guide_commands():
        response = send(client, method, path, body, Authorization=f"Bearer {INTERNAL_KEY}")
        assert response.status_code == (409 if path.endswith("/test-webhook") else 200), (method, path)


def test_without_an_operator_key_internal_answers_loopback_clients_only(client_for: Any) -> None:
    for address in ("127.0.0.1", "::1", "127.0.0.9"):
        local = client_for(address, redis_enabled=False, api_key=API_KEY)
        assert local.get("/internal/cache/stats").status_code == 200, address
        assert local.get("/internal/cache/stats", headers={"X-API-Key": "wrong"}).status_code == 401
    remote = client_for("203.0.113.7", redis_enabled=False, api_key=API_KEY)
    for headers in ({}, {"X-API-Key": API_KEY}):
        refused = remote.get("/internal/cache/stats", headers=headers)
        assert refused.status_code == 403 and "INTERNAL_API_KEY" in refused.json()["detail"]
    assert remote.get("/health").status_code == 200
    assert remote.post("/v1/text_processing/process", json={"text": "Clients stay served from anywhere.",
                                                            "operation": "sentiment"},
                       headers={"X-API-Key": API_KEY}).status_code == 200
    allowed = client_for("203.0.113.7", redis_enabled=False, allow_open_internal=True)
    assert allowed.get("/internal/cache/stats").status_code == 200  # something in front guards it


def test_internal_api_key_opens_internal_only(client_for: Any) -> None:
    client = client_for(redis_enabled=False, api_key=API_KEY, internal_api_key=INTERNAL_KEY)
    process = {"text": "Operators hold their own key. Applications hold theirs.", "operation": "summarize"}
    assert client.get("/internal/cache/stats", headers={"X-API-Key": INTERNAL_KEY}).status_code == 200
    assert client.post("/v1/text_processing/process", json=process,
                       headers={"X-API-Key": INTERNAL_KEY}).status_code == 401
    assert client.post("/v1/text_processing/process", json=process,
                       headers={"X-API-Key": API_KEY}).status_code == 200


def test_a_wrong_credential_beside_a_valid_client_key_is_refused_on_v1(client_for: Any) -> None:
    client = client_for(redis_enabled=False, api_key=API_KEY)
    process = {"text": "Every credential a request carries is checked.", "operation": "sentiment"}
    for headers in ({"X-API-Key": API_KEY, "Authorization": "Bearer wrong"},
                    {"X-API-Key": "wrong", "Authorization": f"Bearer {API_KEY}"},
                    {"X-API-Key": API_KEY, "Authorization": "Basic eA=="}):
        response = client.post("/v1/text_processing/process", json=process, headers=headers)
        assert response.status_code == 401, headers
    both = {"X-API-Key": API_KEY, "Authorization": f"Bearer {API_KEY}"}
    assert client.post("/v1/text_processing/process", json=process, headers=both).status_code == 200


def test_only_an_internal_key_guards_internal_and_leaves_v1_open(client_for: Any) -> None:
    client = client_for(redis_enabled=False, internal_api_key=INTERNAL_KEY)
    process = {"text": "Only the operator surface is guarded here.", "operation": "summarize"}
    assert client.post("/v1/text_processing/process", json=process).status_code == 200
    assert client.get("/internal/monitoring/health").status_code == 401
    assert client.get("/internal/monitoring/health", headers={"Authorization": f"Bearer {INTERNAL_KEY}"}
                      ).status_code == 200


# -- the audit trail


def audit_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.audit for r in caplog.records if r.name == "app.audit"]  # type: ignore[attr-defined]


def test_every_internal_post_logs_one_audit_line(client_for: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(redis_enabled=False, api_key="client-key-1", internal_api_key=API_KEY)
    posts = [path for method, path in internal_routes(client.app) if method == "POST"]
    assert {"/internal/cache/clear", "/internal/resilience/config/apply-preset",
            "/internal/monitoring/test-webhook"} <= set(posts)
    bodies = {"/internal/resilience/config/apply-preset": b'{"preset": "conservative"}',
              "/internal/cache/restore": client.get("/internal/cache/backup", headers={"X-API-Key": API_KEY}).content}
    with caplog.at_level(logging.INFO, logger="app.audit"):
        for path in posts:
            caplog.clear()
            response = send(client, "POST", path, bodies.get(path), **{"X-API-Key": API_KEY})
            lines = audit_records(caplog)
            assert len(lines) == 1, (path, lines)
            line = lines[0]
            assert (line["method"], line["path"], line["status"]) == ("POST", path, response.status_code)
            assert line["key"] == hashlib.sha256(API_KEY.encode()).hexdigest()[:8]
            assert line["client"].startswith("127.0.0.1")
            text = caplog.text
            assert API_KEY not in text and line["key"] in text and f"status={response.status_code}" in text


def test_audit_records_refusals_and_bad_bodies_but_not_reads(client_for: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    # The trail ignores LOG_LEVEL.
    client = client_for(redis_enabled=False, api_key="client-key", internal_api_key=API_KEY, log_level="ERROR")
    with caplog.at_level(logging.DEBUG):
        client.post("/internal/cache/clear")
        client.post("/internal/cache/clear", headers={"Authorization": "Bearer guessed-key"})
        client.post("/internal/resilience/config/apply-preset", content=b'{"preset": "nope"}',
                    headers={"X-API-Key": API_KEY})
        client.get("/internal/cache/stats", headers={"X-API-Key": API_KEY})
        client.post("/v1/text_processing/process", json={}, headers={"X-API-Key": API_KEY})
        client.post("/internal/cache/clear", headers={"X-API-Key": "client-key"})
    lines = audit_records(caplog)
    assert [(a["path"], a["status"], a["key"]) for a in lines] == [
        ("/internal/cache/clear", 401, "none"),
        ("/internal/cache/clear", 401, hashlib.sha256(b"guessed-key").hexdigest()[:8]),
        ("/internal/resilience/config/apply-preset", 422, hashlib.sha256(API_KEY.encode()).hexdigest()[:8]),
        ("/internal/cache/clear", 403, hashlib.sha256(b"client-key").hexdigest()[:8]),
    ]
    assert "guessed-key" not in caplog.text


# -- production refuses /internal/* open


def prod(**values: Any) -> Settings:
    return Settings(_env_file=None, environment="production", **values)  # type: ignore[call-arg]


def test_production_refuses_open_internal_on_a_public_host() -> None:
    with pytest.raises(ValidationError) as info:
        prod(host="0.0.0.0")
    message = str(info.value)
    assert all(word in message for word in ("/internal", "API_KEY", "INTERNAL_API_KEY", "ALLOW_OPEN_INTERNAL"))


@pytest.mark.parametrize("values", [{"api_key": "k"}, {"api_key": "k", "additional_api_keys": "k1,k2"}])
def test_production_refuses_client_keys_alone_on_a_public_host(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="client keys such as API_KEY do not open /internal"):
        prod(host="0.0.0.0", **values)


@pytest.mark.parametrize("values", [
    {"host": "0.0.0.0", "internal_api_key": "k"}, {"host": "0.0.0.0", "additional_internal_api_keys": "k1,k2"},
    {"host": "0.0.0.0", "allow_open_internal": True},
    {"host": "127.0.0.1"}, {"host": "::1"}, {"host": "localhost"}, {"host": "127.0.0.2"},
])
def test_production_starts_with_a_key_on_loopback_or_when_allowed(values: dict[str, Any]) -> None:
    prod(**values)


def test_development_may_serve_internal_open_anywhere() -> None:
    Settings(_env_file=None, environment="development", host="0.0.0.0")  # type: ignore[call-arg]


def _env(**values: str) -> dict[str, str]:
    names = ("API_KEY", "ADDITIONAL_API_KEYS", "INTERNAL_API_KEY", "ADDITIONAL_INTERNAL_API_KEYS",
             "ALLOW_OPEN_INTERNAL", "HOST", "ENVIRONMENT")
    return {**{k: v for k, v in os.environ.items() if k not in names}, **values}


def test_python_m_app_exits_2_with_a_clear_message() -> None:
    done = subprocess.run([sys.executable, "-m", "app"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=_env(ENVIRONMENT="production", HOST="0.0.0.0", PORT=str(free_port()),
                                   REDIS_ENABLED="false"))
    assert done.returncode == 2, done.stderr
    assert "did not start" in done.stderr and "ALLOW_OPEN_INTERNAL" in done.stderr and "API_KEY" in done.stderr


def test_python_m_app_in_production_with_a_key_guards_internal() -> None:
    live = LiveService(_env(ENVIRONMENT="production", HOST="0.0.0.0", API_KEY=API_KEY, INTERNAL_API_KEY=INTERNAL_KEY,
                            REDIS_ENABLED="false"))
    live.start()
    try:
        assert httpx.get(f"{live.url}/health").status_code == 200
        assert httpx.get(f"{live.url}/internal/monitoring/health").status_code == 401
        assert httpx.get(f"{live.url}/internal/monitoring/health",
                         headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 403
        assert httpx.get(f"{live.url}/internal/monitoring/health",
                         headers={"Authorization": f"Bearer {INTERNAL_KEY}"}).status_code == 200
    finally:
        live.stop()
