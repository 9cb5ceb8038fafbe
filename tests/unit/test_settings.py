"""Settings: every bad value is a start-up error naming the variable, never a silent default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: none of the variables Settings reads come from the outer environment."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def error_for(monkeypatch: pytest.MonkeyPatch, **env: str) -> ValidationError:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        settings()
    return caught.value


def test_defaults_are_valid() -> None:
    s = settings()
    assert s.resilience_preset == "simple"
    assert s.metrics_export_interval == 60.0
    assert s.cache_monitoring_retention_hours == 168
    assert s.valid_api_keys == frozenset()


@pytest.mark.parametrize("variable, value", [
    ("METRICS_EXPORT_INTERVAL", "abc"),
    ("METRICS_EXPORT_INTERVAL", "0"),
    ("RESILIENCE_PRESET", "bogus"),
    ("REDIS_URL", "http://x"),
    ("PORT", "70000"),
    ("LOG_LEVEL", "LOUD"),
    ("CACHE_MONITORING_RETENTION_HOURS", "-1"),
    ("MONITORING_WEBHOOK_URL", "ftp://hooks.example.com"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
    ("RESILIENCE_FAILURE_THRESHOLD", "0"),
    ("ENABLE_MONITORING", "perhaps"),
    ("MONITORING_QUERY_BACKEND", "graphite"),
    ("PROMETHEUS_QUERY_TIMEOUT_SECONDS", "0"),
])
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    error = error_for(monkeypatch, **{variable: value})
    assert [e["loc"] for e in error.errors()] == [(variable.lower(),)]
    assert variable.lower() in str(error)


def test_critical_memory_below_warning_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    error = error_for(monkeypatch, ALERT_MEMORY_WARNING_MB="50", ALERT_MEMORY_CRITICAL_MB="40")
    assert "ALERT_MEMORY_CRITICAL_MB" in str(error)


def test_prometheus_backend_needs_prometheus_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (settings().monitoring_query_backend, settings().prometheus_query_timeout_seconds) == ("local", 2.0)
    error = error_for(monkeypatch, MONITORING_QUERY_BACKEND="prometheus")
    assert "MONITORING_QUERY_BACKEND=prometheus needs PROMETHEUS_URL" in str(error)
    monkeypatch.setenv("PROMETHEUS_URL", "http://prometheus:notaport")
    assert "'http://prometheus:notaport'" in str(error_for(monkeypatch))
    monkeypatch.setenv("PROMETHEUS_URL", "http://prometheus:9090/")
    s = settings()
    assert (s.monitoring_query_backend, s.prometheus_url) == ("prometheus", "http://prometheus:9090")


def test_memory_thresholds_in_order_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_MEMORY_WARNING_MB", "20")
    monkeypatch.setenv("ALERT_MEMORY_CRITICAL_MB", "40")
    s = settings()
    assert (s.alert_memory_warning_mb, s.alert_memory_critical_mb) == (20.0, 40.0)


def test_additional_api_keys_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "primary")
    monkeypatch.setenv("ADDITIONAL_API_KEYS", "key-a, key-b,,key-c ")
    s = settings()
    assert s.additional_api_keys == ["key-a", "key-b", "key-c"]
    assert s.valid_api_keys == frozenset({"primary", "key-a", "key-b", "key-c"})


def test_single_additional_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADDITIONAL_API_KEYS", "only-one")
    assert settings().additional_api_keys == ["only-one"]


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.example.com:6380", "unix:///run/r.sock"])
def test_redis_url_schemes(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert settings().redis_url == url


def test_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_EXPORT_INTERVAL", "15")
    monkeypatch.setenv("RESILIENCE_PRESET", "production")
    monkeypatch.setenv("ENABLE_MONITORING", "false")
    monkeypatch.setenv("MONITORING_WEBHOOK_URL", "https://hooks.example.com/alerts/")
    s = settings()
    assert s.metrics_export_interval == 15.0
    assert s.resilience_preset == "production"
    assert s.enable_monitoring is False
    assert s.monitoring_webhook_url == "https://hooks.example.com/alerts"


def test_otlp_export_follows_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().otlp_export_enabled is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert settings().otlp_export_enabled is True


def _run_app(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    full_env.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "app"], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("variable, value", [
    ("METRICS_EXPORT_INTERVAL", "abc"),
    ("REDIS_URL", "http://x"),
])
def test_python_m_app_refuses_to_start_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    done = _run_app(tmp_path, **{variable: value})
    assert done.returncode == 2, done.stdout + done.stderr
    assert variable in done.stderr
    assert "Traceback" not in done.stderr


def test_python_m_app_names_the_variable_of_a_cross_field_error(tmp_path: Path) -> None:
    done = _run_app(tmp_path, ALERT_MEMORY_WARNING_MB="50", ALERT_MEMORY_CRITICAL_MB="10")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ALERT_MEMORY_CRITICAL_MB" in done.stderr


def test_python_m_app_refuses_the_prometheus_backend_without_its_url(tmp_path: Path) -> None:
    done = _run_app(tmp_path, MONITORING_QUERY_BACKEND="prometheus")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "MONITORING_QUERY_BACKEND=prometheus needs PROMETHEUS_URL" in done.stderr
