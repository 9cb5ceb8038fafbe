"""A real Collector + Jaeger + VictoriaLogs + Prometheus (+ Alertmanager, Pushgateway) for pipeline
tests, driven by the project's scripts (collector.sh, jaeger.sh, victorialogs.sh, prometheus.sh,
alertmanager.sh, pushgateway.sh), and small PromQL, Jaeger, LogsQL, trace-file and polling helpers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

PORT_NAMES = (
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
    "OTELCOL_HEALTH_PORT",
    "OTELCOL_METRICS_PORT",
    "PROM_EXPORTER_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "PUSHGATEWAY_PORT",
    "JAEGER_QUERY_PORT",
    "JAEGER_QUERY_GRPC_PORT",
    "JAEGER_OTLP_GRPC_PORT",
    "JAEGER_OTLP_HTTP_PORT",
    "JAEGER_HEALTH_PORT",
    "JAEGER_METRICS_PORT",
    "VICTORIALOGS_PORT",
)
# The gateway's, when the stack has two Collector tiers (scripts/gateway.sh).
GATEWAY_PORT_NAMES = ("GATEWAY_OTLP_GRPC_PORT", "GATEWAY_OTLP_HTTP_PORT", "GATEWAY_HEALTH_PORT", "GATEWAY_METRICS_PORT")
# Which script runs each process and where it writes its pid (under run_dir).
PIDFILES = {
    "collector": "collector/otelcol.pid",
    "gateway": "gateway/otelcol.pid",
    "jaeger": "jaeger/jaeger.pid",
    "victorialogs": "victorialogs/victoria-logs.pid",
}


@dataclass
class Stack:
    """One set of pipeline processes on free loopback ports, with its own run dir.

    Nothing touches a developer's stack on the default ports: even without an Alertmanager of its
    own, Prometheus is pointed at a free (closed) port, never at :9093.

    ``tail_sampling`` (the gateway's TAIL_SAMPLING_* env, possibly empty) makes it the two-tier stack
    of ``make stack``: the Collector is the agent, and a gateway Collector tail-samples before Jaeger.
    None (the default) is the single Collector.
    """

    run_dir: Path
    alertmanager: bool = False
    pushgateway: bool = False
    alert_webhook: str = ""  # where Alertmanager delivers (SERVICE_ALERT_WEBHOOK)
    operator_key: str = ""  # the bearer token Alertmanager sends there (INTERNAL_API_KEY)
    tail_sampling: dict[str, str] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = PORT_NAMES + (GATEWAY_PORT_NAMES if self.tail_sampling is not None else ())
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.env = {
            **os.environ,
            **{k: str(v) for k, v in self.ports.items()},
            "RUN_DIR": str(self.run_dir),
            # Flush span metrics often so a test waits seconds, not 15 s; but not shorter than the
            # 5 s scrape interval, or Prometheus misses exemplars (kept for one flush only).
            "SPANMETRICS_FLUSH_INTERVAL": "6s",
        }
        if self.tail_sampling is not None:
            self.env |= {"OTELCOL_TIER": "agent", **self.tail_sampling}
        if self.alert_webhook:
            self.env["SERVICE_ALERT_WEBHOOK"] = self.alert_webhook
        self.env["INTERNAL_API_KEY"] = self.operator_key  # never the developer's own

    # --- URLs -----------------------------------------------------------------------------------
    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['OTLP_HTTP_PORT']}"

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.ports['PROMETHEUS_PORT']}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ALERTMANAGER_PORT']}"

    @property
    def pushgateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PUSHGATEWAY_PORT']}"

    @property
    def jaeger(self) -> str:
        """Jaeger's query API (/api/traces/{id}, /api/services)."""
        return f"http://127.0.0.1:{self.ports['JAEGER_QUERY_PORT']}"

    @property
    def agent_metrics(self) -> str:
        """The (agent) Collector's own metrics, read directly (Prometheus scrapes them too)."""
        return f"http://127.0.0.1:{self.ports['OTELCOL_METRICS_PORT']}/metrics"

    @property
    def victorialogs(self) -> str:
        return f"http://127.0.0.1:{self.ports['VICTORIALOGS_PORT']}"

    @property
    def traces_file(self) -> Path:
        """Where the Collector writes every span if TRACES_FILE is set (opt-in, see collector.sh)."""
        return self.run_dir / "collector" / "traces.json"

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Stack:
        # The stores first, so the Collector's first exports find them (it would queue and retry).
        # Each may build its binary (minutes, once).
        self.script("jaeger.sh", "start", SETUP_TIMEOUT)
        self.script("victorialogs.sh", "start", SETUP_TIMEOUT)
        if self.tail_sampling is not None:  # before the agent, so its first exports find the gateway
            self.script("gateway.sh", "start", SETUP_TIMEOUT)
        self.script("collector.sh", "start", SETUP_TIMEOUT)
        if self.alertmanager:
            self.script("alertmanager.sh", "start")
        if self.pushgateway:
            self.script("pushgateway.sh", "start")  # before Prometheus: it writes the target file
        self.script("prometheus.sh", "start")
        return self

    def stop(self) -> None:
        # Logs stay in run_dir (pytest keeps the last few basetemps) for post-mortems.
        for name in ("prometheus.sh", "pushgateway.sh", "alertmanager.sh", "collector.sh", "gateway.sh",
                     "jaeger.sh", "victorialogs.sh"):
            try:
                self.script(name, "stop")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # stop the others regardless
                print(f"pipeline stack: {name} stop failed: {exc}")

    def script(self, name: str, action: str, timeout: float = 120) -> str:
        return run_script(name, action, self.env, timeout)

    def kill(self, name: str = "collector") -> None:
        """SIGKILL the collector, gateway, jaeger or victorialogs, as a crash or an OOM kill would: no draining,
        no goodbye. `script(f"{name}.sh", "start")` brings it back."""
        pid = int((self.run_dir / PIDFILES[name]).read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)

    def query(self, promql: str) -> list[dict[str, Any]]:
        return prom_query(self.prometheus, promql)


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


def run_script(name: str, action: str, env: dict[str, str], timeout: float) -> str:
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
    return proc.stdout


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


def prom_api(prometheus: str, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{prometheus}/api/v1/{path}", params=params, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    assert body["status"] == "success", body
    return body["data"]


# --- the service ------------------------------------------------------------------------------------
def service_env(stack: Stack, redis_url: str, name: str, **extra: str) -> dict[str, str]:
    """The env of a service exporting to ``stack`` every 2 s (the runbook history too), as
    scripts/stack.sh starts it but faster; pushing to the stack's Pushgateway when it has one."""
    env = {
        "OTEL_SERVICE_NAME": name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": stack.otlp_http,
        "METRICS_EXPORT_INTERVAL": "2",
        "OTEL_METRIC_EXPORT_INTERVAL": "2000",
        "OTEL_BSP_SCHEDULE_DELAY": "500",  # spans leave within 0.5 s (default 5 s)
        "REDIS_URL": redis_url,
        "PROMETHEUS_URL": stack.prometheus,
    }
    if stack.pushgateway:
        env |= {"ENABLE_EXTERNAL_MONITORING": "true", "PROMETHEUS_GATEWAY_URL": stack.pushgateway_url}
    return env | extra


def traceparent() -> tuple[str, str]:
    """A sampled W3C traceparent we choose, so we know the request's trace id."""
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace_id, f"00-{trace_id}-{span_id}-01"


class TrafficLoop:
    """Requests in a background thread, one every ``interval`` seconds, until ``stop()``: the status of
    every answer is kept (a request that raised is recorded as 0), and when and with which trace id
    (a traceparent of ours) each was sent."""

    def __init__(self, base_url: str, body: Callable[[int], dict[str, Any]], interval: float = 0.2,
                 path: str = "/v1/text_processing/process") -> None:
        self.statuses: list[int] = []
        self.sent: list[tuple[float, str]] = []  # (time.monotonic() at send, trace id)
        self._base_url, self._body, self._interval, self._path = base_url, body, interval, path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline-traffic", daemon=True)

    def __enter__(self) -> TrafficLoop:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                trace_id, header = traceparent()
                self.sent.append((time.monotonic(), trace_id))
                try:
                    self.statuses.append(client.post(self._path, json=self._body(i),
                                                     headers={"traceparent": header}).status_code)
                except httpx.HTTPError:
                    self.statuses.append(0)
                i += 1
                self._stop.wait(self._interval)

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.statuses


# --- PromQL: which metric names does an expression read? -------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                       "group_left", "group_right", "inf", "nan", "Inf", "NaN"})


def metric_names(promql: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label
    names (inside {...} or by/on (...)), strings or durations."""
    text = _STRING.sub('""', promql)
    text = _MATCHERS.sub("{}", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    return {m for m in _IDENT.findall(text) if m not in _KEYWORDS}


# --- Jaeger's query API, VictoriaLogs' LogsQL, the Collector's opt-in file exporter ------------------
def jaeger_spans(jaeger: str, trace_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource attributes, span) for every span Jaeger has of the trace; [] while it has none.
    Read from /api/v3/traces/{id}: OTLP JSON (hex ids, numeric kinds), the file exporter's shape."""
    resp = httpx.get(f"{jaeger}/api/v3/traces/{trace_id}", timeout=10)
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return list(otlp_spans(resp.json()["result"]))


def logsql(victorialogs: str, query: str, limit: int = 1000) -> list[dict[str, str]]:
    """LogsQL query (/select/logsql/query): the matching records, one JSON object each (every field,
    values as strings)."""
    resp = httpx.get(f"{victorialogs}/select/logsql/query", params={"query": query, "limit": limit}, timeout=10)
    resp.raise_for_status()
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def spans_in_file(traces_file: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource attributes, span) for every span in the file exporter's OTLP JSON lines (written
    only when TRACES_FILE is set, see scripts/collector.sh)."""
    if not traces_file.exists():
        return
    for line in traces_file.read_text().splitlines():
        if not line.strip():
            continue
        try:
            payload = json.loads(line)
        except ValueError:  # a line still being written
            continue
        yield from otlp_spans(payload)


def otlp_spans(payload: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource attributes, span) for every span of an OTLP JSON ``{"resourceSpans": [...]}``."""
    for rs in payload.get("resourceSpans", []):
        resource = otlp_attributes(rs.get("resource", {}).get("attributes", []))
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                yield resource, span


def otlp_attributes(attrs: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP JSON key/value list -> plain dict (intValue arrives as a string in OTLP JSON)."""
    out: dict[str, Any] = {}
    for kv in attrs:
        value = kv.get("value", {})
        if "stringValue" in value:
            out[kv["key"]] = value["stringValue"]
        elif "intValue" in value:
            out[kv["key"]] = int(value["intValue"])
        elif "doubleValue" in value:
            out[kv["key"]] = float(value["doubleValue"])
        elif "boolValue" in value:
            out[kv["key"]] = bool(value["boolValue"])
        else:
            out[kv["key"]] = value
    return out
