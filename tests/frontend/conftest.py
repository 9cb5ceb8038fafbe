"""Fixtures for the frontend tests: the real Streamlit app (scripts/frontend.sh, its own venv) in front of
the real service (under uvicorn, with a real Redis and an OpenAI-compatible fake LLM), driven by headless
Chromium through Selenium, with both exporting spans to a real Collector (tests/pipeline/stack.py).

Everything is session-scoped and started once (about 10 s warm; the first run also makes frontend/.venv,
about a minute, and may install Debian's chromium and chromium-driver). Each test opens its page afresh,
so it gets a Streamlit session of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService, RedisServer, free_port
from tests.pipeline.stack import SETUP_TIMEOUT, Stack, run_script

if TYPE_CHECKING:  # selenium may be missing: the fixtures below skip then
    from .browser import Browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's chromium-driver: Selenium never downloads a driver
API_KEY = "frontend-test-key"
BACKEND_SERVICE = "llm-text-service-frontend-test"
FRONTEND_SERVICE = "llm-frontend"
SPAN_DELAY_MS = "500"  # both sides export spans within 0.5 s (OTEL_BSP_SCHEDULE_DELAY)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "frontend: drives the Streamlit frontend in headless Chromium")


def _apt_install(*packages: str) -> str:
    """apt-get install, with one 'apt-get update' when the package lists are stale; '' on success."""
    cmd = ["apt-get", "install", "-y", "-qq", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False).returncode == 0:
        return ""
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300, check=False)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    return "" if proc.returncode == 0 else (proc.stderr or proc.stdout)[-500:]


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of Chromium and its driver, installed from Debian when missing and we are root."""
    pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[dev]'")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.geteuid() != 0:
            pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing and not root: apt-get install chromium chromium-driver")
        error = _apt_install("chromium", "chromium-driver")
        if error or not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
            pytest.skip(f"could not install Debian's chromium and chromium-driver: {error}")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack | None]:
    """A real Collector (no Prometheus, no Jaeger: these tests read traces from its opt-in file
    exporter), or None when it cannot be built here (no Go): the browser tests run anyway, the trace
    test skips."""
    stack = Stack(tmp_path_factory.mktemp("llm-obs-frontend"))
    stack.env["TRACES_FILE"] = str(stack.traces_file)
    if shutil.which("go") is None:
        yield None
        return
    run_script("collector.sh", "start", stack.env, SETUP_TIMEOUT)
    try:
        yield stack
    finally:
        run_script("collector.sh", "stop", stack.env, 60)


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _otel_env(stack: Stack | None) -> dict[str, str]:
    if stack is None:
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": stack.otlp_http, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": SPAN_DELAY_MS}


@pytest.fixture(scope="session")
def backend(collector: Stack | None, redis: RedisServer, fake_llm: FakeOpenAI) -> Iterator[LiveService]:
    """The service against the fake LLM: development preset (3 failures open a breaker, 2 attempts a
    call) with no backoff, so a failing LLM opens the breakers in two requests."""
    env = {
        "OTEL_SERVICE_NAME": BACKEND_SERVICE, **_otel_env(collector),
        "REDIS_URL": redis.url, "API_KEY": API_KEY,
        "LLM_PROVIDER": "openai", "LLM_BASE_URL": fake_llm.base_url, "LLM_MODEL": "gpt-test",
        "LLM_API_KEY": "sk-test", "LLM_TIMEOUT_SECONDS": "5",
        "RESILIENCE_PRESET": "development", "RESILIENCE_BASE_DELAY_SECONDS": "0",
        "MONITORING_WEBHOOK_URL": "", "ENABLE_EXTERNAL_MONITORING": "false",
    }
    service = LiveService(env).start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def frontend(collector: Stack | None, backend: LiveService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Streamlit app started by scripts/frontend.sh on a free port; its URL."""
    port = free_port()
    env = {
        **os.environ, **_otel_env(collector),
        "RUN_DIR": str(tmp_path_factory.mktemp("frontend-run")), "FRONTEND_PORT": str(port),
        "BACKEND_URL": backend.url, "API_KEY": API_KEY, "BACKEND_TIMEOUT_SECONDS": "20",
        # Links only: no test follows them, and nothing listens there.
        "GRAFANA_URL": "http://127.0.0.1:9/grafana",
    }
    env.pop("OTEL_SERVICE_NAME", None)
    # The first run makes frontend/.venv (about a minute on 2 cores).
    run_script("frontend.sh", "start", env, 900)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        run_script("frontend.sh", "stop", env, 60)


@pytest.fixture(scope="session")
def _driver(chromium: tuple[str, str]) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="llm-frontend-chromium-")
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--window-size=1400,2000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(_driver: Any, frontend: str) -> Browser:
    from .browser import Browser

    return Browser(_driver, frontend)


@pytest.fixture
def api(backend: LiveService) -> Iterator[httpx.Client]:
    """The backend's API, straight (for setting up and checking what the pages did)."""
    with httpx.Client(base_url=backend.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as client:
        yield client
