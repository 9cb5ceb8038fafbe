"""Real processes for the tests: a Redis server per port (scripts/redis.sh) and the service under uvicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server on its own port that a test may stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def _script(self, action: str) -> None:
        env = {**os.environ, "REDIS_PORT": str(self.port)}
        subprocess.run([str(ROOT / "scripts" / "redis.sh"), action], env=env, check=True,
                       capture_output=True, timeout=120)

    def start(self) -> RedisServer:
        self._script("start")
        return self

    def stop(self) -> None:
        self._script("stop")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the port is really closed
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)


class LiveService:
    """The service under uvicorn in a subprocess, as ``make run`` starts it."""

    def __init__(self, env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "LOG_LEVEL": "WARNING", **env}
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(f"/tmp/llm-service-test-{self.port}.log")

    def start(self, timeout_s: float = 30.0) -> LiveService:
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=self._env,
                                      stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"service exited with {self._proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"service did not answer /health within {timeout_s}s: {self.log()}")

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
