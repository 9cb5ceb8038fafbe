"""Fixtures for pipeline tests: real Collectors, Prometheus, Alertmanager and Pushgateway, started by the
project's scripts, and the real service (under uvicorn) exporting to them.

Each stack gets its own run dir and free loopback ports, so it never touches a developer's stack on
the default ports. The first run builds the Collector (minutes, cached afterwards).

- ``stack`` (session): Collector + Prometheus + Pushgateway, shared by the smoke tests and the
  service tests (each service has its own service.name, so queries stay apart).
- ``new_stack`` (factory): a stack of one's own, for tests whose rules judge sums over everything
  in Prometheus (alerts) or that kill the Collector.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.helpers.processes import RedisServer, free_port

from .stack import Stack

# Figures the tests measure, printed in the terminal summary (visible without -s).
FIGURES: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pipeline: needs a real OpenTelemetry Collector (built with Go) and Prometheus")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("pipeline figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


def _require_go() -> None:
    if shutil.which("go") is None:
        pytest.skip("Go toolchain not found: scripts/build-collector.sh builds the Collector from Go modules")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _require_go()
    started = Stack(tmp_path_factory.mktemp("llm-obs-run"), pushgateway=True)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture
def new_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Stack]]:
    """``new_stack(alertmanager=True, alert_webhook=url)``: a started stack, stopped after the test."""
    _require_go()
    stacks: list[Stack] = []

    def make(**options: object) -> Stack:
        stacks.append(Stack(tmp_path_factory.mktemp("llm-obs-run"), **options))  # type: ignore[arg-type]
        return stacks[-1].start()

    try:
        yield make
    finally:
        for s in stacks:
            s.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis on a free port (scripts/redis.sh), for every service of the session."""
    server = RedisServer(free_port()).start()
    try:
        yield server
    finally:
        server.stop()
