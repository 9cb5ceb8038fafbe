"""Fixtures for pipeline tests: a real Collector and a real Prometheus, started by the project's scripts.

Each test session gets its own run dir and free loopback ports, so it never touches a developer's
stack on the default ports. The first run builds the Collector (minutes, cached afterwards).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from .stack import SETUP_TIMEOUT, Stack, free_ports, run_script


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pipeline: needs a real OpenTelemetry Collector (built with Go) and Prometheus")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("go") is None:
        pytest.skip("Go toolchain not found: scripts/build-collector.sh builds the Collector from Go modules")

    run_dir = tmp_path_factory.mktemp("llm-obs-run")
    # The env vars scripts/collector.sh and scripts/prometheus.sh read their ports from.
    names = (
        "OTLP_GRPC_PORT",
        "OTLP_HTTP_PORT",
        "OTELCOL_HEALTH_PORT",
        "OTELCOL_METRICS_PORT",
        "PROM_EXPORTER_PORT",
        "PROMETHEUS_PORT",
    )
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "RUN_DIR": str(run_dir),
        # Flush span metrics often so the test waits seconds, not 15 s; but not shorter than the
        # 5 s scrape interval, or Prometheus misses exemplars (kept for one flush only).
        "SPANMETRICS_FLUSH_INTERVAL": "6s",
    }
    try:
        run_script("collector.sh", "start", env, SETUP_TIMEOUT)
        run_script("prometheus.sh", "start", env, 120)
        yield Stack(
            otlp_http=f"http://127.0.0.1:{ports['OTLP_HTTP_PORT']}",
            prometheus=f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}",
            traces_file=run_dir / "collector" / "traces.json",
            run_dir=run_dir,
        )
    finally:
        # Logs stay in run_dir (pytest keeps the last few basetemps) for post-mortems.
        run_script("prometheus.sh", "stop", env, 60)
        run_script("collector.sh", "stop", env, 60)
