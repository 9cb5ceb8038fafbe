"""Integration fixtures: a real Redis per test module, and the app built against it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.helpers.processes import RedisServer, free_port


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A Redis of this module's own, so a test may stop and restart it without touching others."""
    server = RedisServer(free_port()).start()
    yield server
    server.stop()


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"log_level": "WARNING", "metrics_export_interval": 3600,
                            "redis_retry_interval_seconds": 0.2, "redis_timeout_seconds": 0.5}
    return Settings(_env_file=None, **{**base, **overrides})  # type: ignore[call-arg]


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Build an app from settings overrides and serve it through TestClient (lifespan included)."""
    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)
