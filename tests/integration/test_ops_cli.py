"""``llm-ops`` against a live service (uvicorn subprocess): the exit codes a cron job acts on, for a
healthy, a degraded, a critical and an unreachable service; and the guide's curl-format.txt."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.ops import checks
from app.ops.client import Answer
from tests.helpers.processes import ROOT, LiveService, RedisServer, free_port

DEAD_URL = f"http://127.0.0.1:{free_port()}"


def llm_ops(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.ops.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})


def timing_only(done: subprocess.CompletedProcess[str]) -> bool:
    """A run that is degraded only by a response time over the guide's expectation: on a loaded test
    machine a healthy service can answer /health in over 100 ms, and then the CLI is right to warn."""
    try:
        flagged = [c["name"] for c in json.loads(done.stdout)["checks"] if c["level"] in ("warning", "critical")]
    except ValueError:
        flagged = [line for line in done.stdout.splitlines() if line.startswith(("[WARN]", "[CRIT]"))]
    return done.returncode == 1 and bool(flagged) and all("response time" in name for name in flagged)


def daily(run: Callable[[], subprocess.CompletedProcess[str]]) -> subprocess.CompletedProcess[str]:
    """``daily`` on the healthy service, run again (three times at most) while only timing warns."""
    done = run()
    for _ in range(2):
        if not timing_only(done):
            break
        done = run()
    return done


@pytest.fixture(scope="module")
def healthy() -> Iterator[LiveService]:
    redis = RedisServer(free_port()).start()
    service = LiveService({"REDIS_URL": redis.url, "METRICS_EXPORT_INTERVAL": "1"}).start()
    # The first Redis ping of a fresh app includes the connection set-up and may pass 10 ms.
    httpx.get(f"{service.url}/internal/monitoring/health", timeout=10)
    yield service
    service.stop()
    redis.stop()


def test_daily_on_a_healthy_service_exits_0(healthy: LiveService) -> None:
    done = daily(lambda: llm_ops("daily", "--url", healthy.url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[ OK ] Basic health" in done.stdout and "Cache hit ratio: " in done.stdout
    assert "Result: healthy (exit 0)" in done.stdout


def test_json_mode_and_options_on_either_side(healthy: LiveService) -> None:
    for args in (("--json", "--url", healthy.url, "daily"), ("daily", "--json", "--url", healthy.url)):
        done = daily(partial(llm_ops, *args))
        report = json.loads(done.stdout)
        assert done.returncode == 0 and report["verdict"] == "healthy" and report["exit_code"] == 0
        assert {c["name"] for c in report["checks"]} >= {"Basic health", "System status", "Active alerts"}
        assert report["data"]["overview"]["system_health"]["status"] == "healthy"


def test_url_from_the_environment(healthy: LiveService) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LLM_OPS_URL": healthy.url}
    done = daily(lambda: subprocess.run([sys.executable, "-m", "app.ops.cli", "daily"], capture_output=True,
                                        text=True, timeout=60, cwd=ROOT, env=env))
    assert done.returncode == 0 and healthy.url in done.stdout


def test_weekly_review_reads_every_guide_command(healthy: LiveService) -> None:
    done = llm_ops("weekly", "--json", "--url", healthy.url)
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout
    assert set(report["data"]) == {"metrics", "resilience_trends", "alert_history", "alert_trends",
                                   "memory_trends", "capacity"}
    assert report["checks"][0]["message"].startswith("healthy")


def test_monitor_runs_bounded_with_one_json_line_per_round(healthy: LiveService) -> None:
    done = llm_ops("monitor", "--url", healthy.url, "--iterations", "3", "--interval", "0.05", "--json")
    rounds = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and len(rounds) == 3
    assert all(r["data"]["overall_status"] == "healthy" for r in rounds)


def test_baseline_writes_the_guide_file(healthy: LiveService, tmp_path: Path) -> None:
    done = llm_ops("baseline", "--url", healthy.url, "--output-dir", str(tmp_path))
    files = list(tmp_path.iterdir())
    assert done.returncode == 0, done.stdout
    assert len(files) == 1 and re.fullmatch(r"performance_baseline_\d{8}_\d{6}\.json", files[0].name)
    saved = json.loads(files[0].read_text())
    assert isinstance(saved["cache_metrics"]["hit_ratio"], float)
    assert str(files[0]) in done.stdout and "Cache hit ratio (%)" in done.stdout


@pytest.mark.parametrize("command", [["daily"], ["weekly"], ["baseline"], ["monitor", "--iterations", "1"]])
def test_an_unreachable_service_exits_3(command: list[str], tmp_path: Path) -> None:
    done = llm_ops(*command, "--url", DEAD_URL, "--timeout", "2", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "unreachable" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no baseline file for a service that did not answer


def test_a_degraded_service_exits_1() -> None:
    service = LiveService({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}).start()  # Redis away
    try:
        done = llm_ops("daily", "--url", service.url)
        assert done.returncode == 1, done.stdout
        assert "[WARN] Infrastructure health: degraded" in done.stdout
        assert llm_ops("monitor", "--url", service.url, "--iterations", "1").returncode == 1
    finally:
        service.stop()


def test_an_open_ai_service_breaker_exits_2() -> None:
    service = LiveService({"REDIS_ENABLED": "false", "LLM_PROVIDER": "openai", "LLM_BASE_URL": f"{DEAD_URL}/v1",
                           "RESILIENCE_FAILURE_THRESHOLD": "1", "RESILIENCE_MAX_ATTEMPTS": "1"}).start()
    try:
        failed = httpx.post(f"{service.url}/v1/text_processing/process",
                            json={"text": "The provider is down today.", "operation": "summarize"}, timeout=10)
        assert failed.status_code == 502
        done = llm_ops("daily", "--url", service.url)
        assert done.returncode == 2, done.stdout
        assert "[CRIT]" in done.stdout and "CircuitBreakerOpen" in done.stdout
        monitor = llm_ops("monitor", "--url", service.url, "--iterations", "1")
        assert monitor.returncode == 2 and "System status is unhealthy" in monitor.stdout
    finally:
        service.stop()


def test_usage_errors_do_not_look_like_critical() -> None:
    done = llm_ops("monitor", "--interval", "-5")
    assert done.returncode == 64 and "--interval" in done.stderr


def answer(path: str, status: int = 200, body: Any = None, elapsed_ms: float = 5.0) -> Answer:
    return Answer(path, status, body, json.dumps(body), elapsed_ms)


def test_verdicts_for_answers_a_live_service_rarely_gives() -> None:
    slow = checks.response_time(answer("/internal/monitoring/health", body={}, elapsed_ms=400))
    assert slow is not None and slow.level == "warning"
    very_slow = checks.response_time(answer("/health", body={}, elapsed_ms=1500))
    assert very_slow is not None and very_slow.level == "critical"
    missing = checks.info("Capacity analysis", answer("/internal/resilience/capacity-analysis", 404, {"detail": "x"}))
    assert missing.level == "skipped"
    broken = checks.status_check("System status", answer("/internal/monitoring/overview", 500, None), "system_health")
    assert broken.level == "critical"
    no_field = checks.status_check("System status", answer("/internal/monitoring/health", body={"status": "ok"}),
                                   "overall_status")
    assert no_field.level == "warning" and ".overall_status" in no_field.message
    report = checks.Report("daily", "u", "t", [checks.Check("a", "info", ""), checks.Check("b", "skipped", "")])
    assert report.exit_code == 0


def test_curl_format_file_as_the_guide_uses_it(healthy: LiveService) -> None:
    done = subprocess.run(["curl", "-w", "@curl-format.txt", f"{healthy.url}/health"], capture_output=True,
                          text=True, timeout=10, cwd=ROOT)
    assert done.returncode == 0
    for name in ("time_namelookup", "time_connect", "time_starttransfer", "time_total"):
        assert re.search(rf"{name}:\s+\d+\.\d+s", done.stdout), done.stdout
    assert re.search(r"http_code:\s+200", done.stdout)


def test_installed_as_llm_ops() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["llm-ops"] == "app.ops.cli:main"
    script = Path(sys.executable).parent / "llm-ops"
    if not script.exists():
        pytest.skip("the venv predates the llm-ops entry point: `make install` reinstalls the package")
    done = subprocess.run([str(script), "daily", "--url", DEAD_URL], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
