"""The guide's /internal/resilience commands, run as written with real curl and jq (only host:port is
the test server's), against a live service whose LLM is a local OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService

GUIDE_HOST = "http://localhost:8000"
# (the command as the guide prints it, the JSON type its output must have)
GUIDE_READS: list[tuple[str, str]] = [
    ("curl -s http://localhost:8000/internal/resilience/performance-metrics | jq '.trends'", "object"),
    ("curl -s http://localhost:8000/internal/resilience/metrics | jq '.performance_summary'", "object"),
    ("curl -s http://localhost:8000/internal/resilience/usage-statistics | jq '.usage_patterns'", "object"),
    ('curl -s "http://localhost:8000/internal/resilience/preset-trends/production" | jq \'.performance_evolution\'',
     "array"),
    ("curl -s http://localhost:8000/internal/resilience/health", "object"),
    ("curl -s http://localhost:8000/internal/resilience/capacity-analysis", "object"),
    ("curl -s http://localhost:8000/internal/resilience/config/recent-changes", "object"),
    ("curl -s http://localhost:8000/internal/resilience/circuit-breakers", "object"),
]
APPLY = """curl -X POST http://localhost:8000/internal/resilience/config/apply-preset -d '{"preset": "conservative"}'"""
EXPORT = "curl -s http://localhost:8000/internal/resilience/config/export > config_backup.json"
TEXT = "The payment service failed twice this morning. Engineers restarted it and traffic recovered."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def llm_service(live_redis: str, fake: FakeOpenAI) -> Iterator[LiveService]:
    live = LiveService({"REDIS_URL": live_redis, "METRICS_EXPORT_INTERVAL": "1", "LLM_PROVIDER": "openai",
                        "LLM_BASE_URL": fake.base_url, "LLM_API_KEY": "sk-test", "LLM_TIMEOUT_SECONDS": "2",
                        "RESILIENCE_PRESET": "development", "RESILIENCE_BASE_DELAY_SECONDS": "0"}).start()
    yield live
    live.stop()


def run(service: LiveService, command: str, cwd: Path | None = None) -> str:
    line = command.replace(GUIDE_HOST, service.url)
    done = subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True, text=True, timeout=30,
                          cwd=cwd)
    assert done.returncode == 0, f"{line}: {done.stderr}"
    return done.stdout


def check_reads(service: LiveService) -> dict[str, Any]:
    seen = {}
    for command, kind in GUIDE_READS:
        value = json.loads(run(service, command))
        assert type(value).__name__ == {"object": "dict", "array": "list"}[kind], f"{command}: {value}"
        assert "detail" not in value, f"{command}: {value}"
        if " | jq " in command:  # what the guide's jq reads holds no null, however deep
            assert not nulls(value), f"{command}: null at {nulls(value)}"
        seen[command] = value
    return seen


def nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path or "."]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def failing_call_attempts(service: LiveService, fake: FakeOpenAI, n: int) -> int:
    url = f"{service.url}/v1/text_processing/process"
    ok = httpx.post(url, json={"text": f"{TEXT} Healthy {n}.", "operation": "summarize"}, timeout=30)
    assert ok.status_code == 200  # a success ends any run of consecutive failures
    before, fake.mode = fake.calls, "error500"
    try:
        failed = httpx.post(url, json={"text": f"{TEXT} Incident {n}.", "operation": "summarize"}, timeout=30)
    finally:
        fake.mode = "ok"
    assert failed.status_code == 502, failed.text
    return fake.calls - before


def test_guide_reads_on_a_fresh_service(llm_service: LiveService) -> None:
    seen = check_reads(llm_service)
    assert seen[GUIDE_READS[3][0]] == []  # production was never active
    assert seen[GUIDE_READS[4][0]]["healthy"] is True


def test_apply_preset_as_written_changes_the_attempts(llm_service: LiveService, fake: FakeOpenAI,
                                                      tmp_path: Path) -> None:
    assert failing_call_attempts(llm_service, fake, 1) == 2  # development: 2 attempts
    run(llm_service, EXPORT, cwd=tmp_path)
    backup = json.loads((tmp_path / "config_backup.json").read_text())
    assert backup == {"preset": "development", "overrides": {"base_delay_s": 0.0}}

    applied = json.loads(run(llm_service, APPLY))
    assert applied["preset"] == "conservative" and applied["previous_preset"] == "development"
    assert failing_call_attempts(llm_service, fake, 2) == 5  # conservative: 5 attempts

    changes = json.loads(run(llm_service, GUIDE_READS[6][0]))["changes"]
    assert changes[0]["changed"]["max_attempts"] == {"before": 2, "after": 5}

    seen = check_reads(llm_service)
    summary = seen[GUIDE_READS[1][0]]
    assert summary["preset"] == "conservative" and summary["failed_calls"] == 7 and summary["retries"] == 5
    usage = seen[GUIDE_READS[2][0]]
    assert set(usage["presets"]) == {"development", "conservative"}

    # the backup restores what was there before
    restore = f"curl -s -X POST {GUIDE_HOST}/internal/resilience/config/apply-preset -d @config_backup.json"
    assert json.loads(run(llm_service, restore, cwd=tmp_path))["preset"] == "development"
    assert failing_call_attempts(llm_service, fake, 3) == 2
