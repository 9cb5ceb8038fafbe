"""External dependencies: reachability probes, and the effective monitoring configuration.

Probes are cheap and bounded (``PROBE_TIMEOUT_S``) and run concurrently, so the answer stays fast when
everything is down. They only look: the webhook gets a HEAD, never a notification; the LLM provider
gets a GET of its base URL without the API key. Targets, errors and settings are shown masked by
``instrumentation.redact`` (a webhook's path too: it is often its secret).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from instrumentation.redact import redact_setting, redact_text

PROBE_TIMEOUT_S = 2.0


@dataclass
class Probe:
    name: str
    configured: bool
    target: str = ""
    reachable: bool = False
    latency_ms: float = 0.0  # how long the probe took, answered or not
    last_error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:  # "host:notaport": the probe will say it cannot connect
        return None


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    port = _port(parts) or {"https": 443, "http": 80}.get(parts.scheme, default_port)
    return parts.hostname or "localhost", port


def _error(exc: BaseException) -> str:
    return redact_text(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__


async def probe_tcp(name: str, target: str, host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """A TCP connect: enough to tell an OTLP receiver (gRPC or HTTP) is listening."""
    probe = Probe(name, True, target)
    start = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        writer.close()
        probe.reachable = True
    except (OSError, TimeoutError) as exc:
        probe.last_error = _error(exc) if not isinstance(exc, TimeoutError) else f"no connection in {timeout_s:g} s"
    probe.latency_ms = round((time.perf_counter() - start) * 1000, 3)
    return probe


async def probe_http(name: str, method: str, url: str, shown: str, timeout_s: float = PROBE_TIMEOUT_S,
                     ready_statuses: Iterable[int] = range(200, 300)) -> Probe:
    """One request; reachable when any HTTP answer comes back, ``ready`` when its status is expected."""
    probe = Probe(name, True, shown)
    start = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            response = await client.request(method, url)
        probe.reachable = True
        probe.detail = {"status_code": response.status_code, "ready": response.status_code in ready_statuses}
        if not probe.detail["ready"]:
            probe.last_error = f"HTTP {response.status_code}"
    except httpx.TimeoutException:
        probe.last_error = f"no answer in {timeout_s:g} s"
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        probe.last_error = _error(exc)
    probe.latency_ms = round((time.perf_counter() - start) * 1000, 3)
    return probe


async def guarded(name: str, probe: Awaitable[Probe], timeout_s: float = PROBE_TIMEOUT_S + 0.5) -> Probe:
    """A probe that fails in a way nobody foresaw, or overruns, degrades the answer instead of failing it."""
    start = time.perf_counter()
    try:
        return await asyncio.wait_for(probe, timeout_s)
    except Exception as exc:
        return Probe(name, True, reachable=False, latency_ms=round((time.perf_counter() - start) * 1000, 3),
                     last_error=_error(exc) if not isinstance(exc, TimeoutError) else f"no answer in {timeout_s:g} s")


def not_configured(name: str, how: str) -> Probe:
    return Probe(name, False, detail={"message": f"not configured: set {how}"})


def dependencies_report(probes: Iterable[Probe]) -> dict[str, Any]:
    """``GET dependencies``: every dependency, and which configured ones are not reachable."""
    found = {p.name: p.as_dict() for p in probes}
    down = [p["name"] for p in found.values() if p["configured"] and not p["reachable"]]
    unready = [p["name"] for p in found.values()
               if p["configured"] and p["reachable"] and p["detail"].get("ready") is False]
    status = "unhealthy" if down else ("degraded" if unready else "healthy")
    return {"status": status, "all_reachable": not down, "unreachable": down, "not_ready": unready,
            "configured": [n for n, p in found.items() if p["configured"]],
            "probe_timeout_seconds": PROBE_TIMEOUT_S, "dependencies": found}


# The settings that shape monitoring: the guide's variables and this project's additions to them.
_MONITORING_PREFIXES = ("enable_", "monitoring_", "metrics_", "alert_", "cache_monitoring_", "prometheus_",
                        "memory_limit", "otel_")


def config_report(settings: Mapping[str, Any], explicitly_set: Iterable[str], environ: Mapping[str, str],
                  effective: Mapping[str, Any], notes: Iterable[Mapping[str, str]]) -> dict[str, Any]:
    """``GET config``: the monitoring settings in effect (secrets masked), OTEL_* and validation notes."""
    chosen = set(explicitly_set)
    variables = {name.upper(): {"value": redact_setting(name, value), "source": "set" if name in chosen else "default"}
                 for name, value in sorted(settings.items()) if name.startswith(_MONITORING_PREFIXES)}
    otel_env = {k: redact_setting(k, v) for k, v in sorted(environ.items()) if k.startswith("OTEL_")}
    noted = [dict(n) for n in notes]
    return {"valid": not any(n["level"] == "error" for n in noted),
            "variables": variables, "otel_environment": otel_env, "effective": dict(effective),
            "notes": noted}


def config_notes(s: Mapping[str, Any], environ: Mapping[str, str], cache_max_mb: float,
                 alert_window_s: float) -> list[dict[str, str]]:
    """What the values mean together: settings that are valid alone but surprise in combination."""
    notes: list[dict[str, str]] = []

    def note(level: str, setting: str, message: str) -> None:
        notes.append({"level": level, "setting": setting, "message": message})

    if not s["enable_monitoring"]:
        note("warning", "ENABLE_MONITORING", "false: no snapshot history is collected; every window is empty "
             "and alerts are judged only when an endpoint asks")
    if s["otel_exporter_otlp_endpoint"] == "" and s["enable_external_monitoring"]:
        note("info", "OTEL_EXPORTER_OTLP_ENDPOINT", "empty with ENABLE_EXTERNAL_MONITORING=true: the SDK's "
             "default endpoint is used")
    if not s["otel_exporter_otlp_endpoint"] and not s["enable_external_monitoring"]:
        note("info", "ENABLE_EXTERNAL_MONITORING", "no OTLP export: Prometheus and Grafana see nothing; the "
             "runbook endpoints still answer from the in-process reader")
    if s["cache_monitoring_retention_hours"] < 168:
        note("info", "CACHE_MONITORING_RETENTION_HOURS", f"{s['cache_monitoring_retention_hours']} h: windows "
             "longer than this (the guide's weekly 168 h review) cover only the retention")
    if s["metrics_export_interval"] > alert_window_s:
        note("warning", "METRICS_EXPORT_INTERVAL", f"{s['metrics_export_interval']:g} s is longer than the "
             f"{alert_window_s:g} s alert window: background alerts are judged less often than they look back")
    interval = environ.get("OTEL_METRIC_EXPORT_INTERVAL")
    if interval is not None and not _is_number(interval):
        note("warning", "OTEL_METRIC_EXPORT_INTERVAL", f"{interval!r} is not a number of milliseconds: "
             "the SDK ignores it and uses its default")
    elif interval is not None:
        note("info", "OTEL_METRIC_EXPORT_INTERVAL", "set: it governs the OTLP metric export interval; "
             "METRICS_EXPORT_INTERVAL still paces the in-process history")
    if s["alert_memory_warning_mb"] > cache_max_mb:
        note("warning", "ALERT_MEMORY_WARNING_MB", f"{s['alert_memory_warning_mb']:g} MB is above the memory "
             f"tier's own bound of {cache_max_mb:g} MB: the cache memory warning can never fire")
    if s["monitoring_webhook_url"].startswith("http://") and s["environment"] == "production":
        note("warning", "MONITORING_WEBHOOK_URL", "plain http in production: alert payloads travel unencrypted")
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        note("warning", "OTEL_SDK_DISABLED", "true: the SDK records nothing, so every window is empty and "
             "no KPI can be judged")
    return notes


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
