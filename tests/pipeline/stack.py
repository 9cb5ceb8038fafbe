"""A real Collector + Prometheus for pipeline tests, driven by scripts/collector.sh and prometheus.sh."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"

# Every wait in these tests is bounded by this (seconds): scrape interval 5 s, span metrics flush 6 s.
POLL_TIMEOUT = 60.0
# A cold Collector build takes minutes on 2 cores; the scripts' own waits are bounded.
SETUP_TIMEOUT = 1800


@dataclass(frozen=True)
class Stack:
    otlp_http: str  # base URL of the Collector's OTLP/HTTP receiver
    prometheus: str  # base URL of Prometheus
    traces_file: Path  # where the Collector's file exporter writes spans (OTLP JSON lines)
    run_dir: Path


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while choosing, so none repeats)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def run_script(name: str, action: str, env: dict[str, str], timeout: float) -> None:
    proc = subprocess.run(
        [str(SCRIPTS / name), action],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {action} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def poll(probe: Callable[[], Any], what: str, timeout: float = POLL_TIMEOUT, interval: float = 1.0) -> Any:
    """Call probe() until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def prom_query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """Instant PromQL query; returns the result vector (list of {metric, value})."""
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])
