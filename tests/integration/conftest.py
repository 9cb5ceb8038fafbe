"""Integration fixtures: a real Redis per test module, and the app built against it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import RedisServer, free_port


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A Redis of this module's own, so a test may stop and restart it without touching others."""
    server = RedisServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """This module's Redis, emptied: state another test left (alerts, maintenance) does not leak in."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield redis_server.url
    client.close()


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"log_level": "WARNING", "metrics_export_interval": 3600,
                            "redis_retry_interval_seconds": 0.2, "redis_timeout_seconds": 0.5}
    return Settings(_env_file=None, **{**base, **overrides})  # type: ignore[call-arg]


LOCAL = "127.0.0.1"  # where the guide's curl runs; /internal/* answers it when no operator key is configured


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Build an app from settings overrides and serve it through TestClient (lifespan included), as a
    client at ``client_address``."""
    clients: list[TestClient] = []

    def build(client_address: str = LOCAL, **overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)), client=(client_address, 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """A local OpenAI-compatible server; tests set its ``mode`` to make the vendor fail."""
    with FakeOpenAI() as server:
        yield server


def llm_client(client_for: Any, fake: FakeOpenAI, **overrides: Any) -> Any:
    """The app on the OpenAI-compatible provider pointed at ``fake``, development preset, no backoff wait."""
    settings = {"redis_enabled": False, "llm_provider": "openai", "llm_base_url": fake.base_url,
                "llm_api_key": "sk-test", "llm_timeout_seconds": 2.0, "resilience_preset": "development",
                "resilience_base_delay_seconds": 0.0, **overrides}
    return client_for(**settings)
