"""The start scripts refuse a port that another process holds, rather than report its listener as theirs."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield port


@pytest.mark.parametrize(("script", "variable"), [
    ("prometheus.sh", "PROMETHEUS_PORT"),
    ("alertmanager.sh", "ALERTMANAGER_PORT"),
    ("pushgateway.sh", "PUSHGATEWAY_PORT"),
    ("collector.sh", "OTELCOL_HEALTH_PORT"),
    ("gateway.sh", "GATEWAY_HEALTH_PORT"),
])
def test_start_fails_on_a_port_in_use_and_says_which(script: str, variable: str, taken_port: int,
                                                     tmp_path: Path) -> None:
    others = ("OTLP_GRPC_PORT", "OTLP_HTTP_PORT", "OTELCOL_METRICS_PORT", "PROM_EXPORTER_PORT",  # collector's
              "GATEWAY_OTLP_GRPC_PORT", "GATEWAY_OTLP_HTTP_PORT", "GATEWAY_METRICS_PORT")  # the gateway's
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "RUN_DIR": str(tmp_path), "HOME": str(Path.home()),
           **{name: str(free_port()) for name in others}, variable: str(taken_port)}
    done = subprocess.run(["bash", str(REPO / "scripts" / script), "start"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {taken_port} is already in use" in done.stderr
    pidfiles = list(tmp_path.rglob("*.pid"))
    assert not pidfiles, f"a pidfile was written: {pidfiles}"
