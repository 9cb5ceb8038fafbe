"""Shared fixtures: the project's real telemetry wiring with an in-memory span exporter.

Kept small and generic: unit, integration and runbook tests all use it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from instrumentation import Telemetry, TelemetryConfig, build_telemetry
from tests.helpers.processes import RedisServer, free_port


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(span_exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    """A fresh Telemetry (no OTLP export) whose finished spans land in ``span_exporter``."""
    tel = build_telemetry(TelemetryConfig(service_name="test-service", extra_span_exporters=(span_exporter,)))
    yield tel
    tel.shutdown()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung dependency."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


@pytest.fixture(scope="session")
def live_redis() -> Iterator[str]:
    """A real Redis: the one `make test` started (TEST_REDIS_URL), else one of the session's own."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer(free_port()).start()
    yield server.url
    server.stop()
