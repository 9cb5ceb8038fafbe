"""Telemetry overhead, as ratios against baselines measured in the same run.

    .venv/bin/python bench/overhead.py [--duration 10] [--connections 32] [--rounds 3] [--quick] [--json PATH]
                                       [--apps bare,full-notel,stock,full] [--profile DIR]

1. Throughput and p99 latency with wrk (1 thread, N connections, a warm-up then a fixed duration) against
   uvicorn servers started one at a time (1 worker, 127.0.0.1, a free port) for these apps by default:
   ``bare`` (no telemetry), ``full-notel`` (this project's app with its telemetry off), ``stock`` (the bare
   app under the stock FastAPIInstrumentor, SDK defaults) and ``full`` (this project's ``create_app()`` with
   the production sampler README.md recommends), each on ``GET /health`` and a cache-hit ``POST .../process``.
   Traces and metrics are exported over OTLP/HTTP to a local sink in this process that answers 200, so
   export costs are real and nothing is lost; the sink counts the spans it receives. The server's CPU time
   per request is read from /proc around each measured run.
2. A table of req/s, p99 and CPU per request with the ratios to bare (and full/stock, full/full-notel);
   with ``--profile DIR``, the heaviest frames of each server in µs per request (py-spy).
3. The p50/p99 of each runbook endpoint in-process, with the snapshot history filled to 7 days.

See bench/README.md for how to read the figures. Progress goes to stderr, tables to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The sampler README.md recommends for production; the "full" app runs with it.
PRODUCTION_SAMPLER = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


@dataclasses.dataclass(frozen=True)
class AppSpec:
    name: str
    target: str
    env: dict[str, str]  # on top of clean_env()
    traced: bool  # has a TracerProvider whose sampler the environment chooses
    prints: bool = False  # writes a line per request (LOG_LEVEL=INFO): its server output is expected


APPS: dict[str, AppSpec] = {spec.name: spec for spec in (
    AppSpec("bare", "bench.app_bare:app", {}, False),
    AppSpec("bare-sync", "bench.app_bare_sync:app", {}, False),
    AppSpec("full-notel", "bench.app_full_notel:app", {}, False),
    AppSpec("stock", "bench.app_stock:app", {}, True),
    AppSpec("full", "bench.app_full:app", PRODUCTION_SAMPLER, True),
    AppSpec("full-on", "bench.app_full:app", {}, True),  # full with the SDK's default sampler
    # full at LOG_LEVEL=INFO, as it runs by default: each request's access record to stdout and over OTLP
    AppSpec("full-logs", "bench.app_full:app", {**PRODUCTION_SAMPLER, "LOG_LEVEL": "INFO"}, True, prints=True),
    # full-logs with its records to stdout only (OTEL_LOGS_EXPORTER=none): the baseline of the log export's cost
    AppSpec("full-logs-stdout", "bench.app_full:app",
            {**PRODUCTION_SAMPLER, "LOG_LEVEL": "INFO", "OTEL_LOGS_EXPORTER": "none"}, True, prints=True),
)}
DEFAULT_APPS = ("bare", "full-notel", "stock", "full")
HEALTH = "/health"
PROCESS = "/v1/text_processing/process"
TEXT = ("The new release is fast and reliable, and the team loved the improved dashboard. "
        "The setup guide still has a few problems, but support answered quickly and the upgrade was smooth.")
PROCESS_BODY = {"text": TEXT, "operation": "sentiment"}
RUNBOOK_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("GET /health (reference)", "/health"),
    ("monitoring/overview", "/internal/monitoring/overview"),
    ("monitoring/health", "/internal/monitoring/health"),
    ("monitoring/metrics 168h", "/internal/monitoring/metrics?time_window_hours=168"),
    ("monitoring/metrics prometheus", "/internal/monitoring/metrics?format=prometheus"),
    ("monitoring/alerts", "/internal/monitoring/alerts"),
    ("resilience/circuit-breakers", "/internal/resilience/circuit-breakers"),
    ("cache/stats", "/internal/cache/stats"),
)
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# Direct connections only: a proxy from the environment must not sit between wrk's peers or the sink.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(RuntimeError):
    """The benchmark cannot give a valid figure: stop, say why."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the OTLP sink -------------------------------------------------------------------------------------------

class Sink:
    """A tiny OTLP/HTTP receiver: 200 to /v1/traces, /v1/metrics and /v1/logs, counting requests, bytes, spans
    and log records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"trace_posts": 0, "spans": 0, "metric_posts": 0, "log_posts": 0, "log_records": 0,
                        "bytes": 0, "unknown_posts": 0, "undecodable": 0}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                known = sink.receive(self.path, body, self.headers.get("Content-Encoding", ""))
                self.send_response(200 if known else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-sink", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def receive(self, path: str, body: bytes, encoding: str) -> bool:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        spans = records = 0
        undecodable = 0
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            elif path == "/v1/logs":
                logs = ExportLogsServiceRequest.FromString(body)
                records = sum(len(sl.log_records) for rl in logs.resource_logs for sl in rl.scope_logs)
        except Exception:
            undecodable = 1
        with self._lock:
            self._counts["bytes"] += len(body)
            self._counts["undecodable"] += undecodable
            if path == "/v1/traces":
                self._counts["trace_posts"] += 1
                self._counts["spans"] += spans
            elif path == "/v1/metrics":
                self._counts["metric_posts"] += 1
            elif path == "/v1/logs":
                self._counts["log_posts"] += 1
                self._counts["log_records"] += records
            else:
                self._counts["unknown_posts"] += 1
                return False
        return True


# -- servers ---------------------------------------------------------------------------------------------------

def clean_env() -> dict[str, str]:
    """This environment without OTEL_* and without the service's own settings: every run alike."""
    from app.settings import Settings

    settings_vars = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k.upper() not in settings_vars}
    env.update({
        "REDIS_ENABLED": "false", "LOG_LEVEL": "WARNING", "MONITORING_LOG_LEVEL": "WARNING",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http", "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    return env


def sampler_of(spec: AppSpec) -> str:
    """The sampler the app's TracerProvider gets from its environment, as the SDK itself resolves it."""
    if not spec.traced:
        return "none (no tracing)"
    from opentelemetry.sdk.trace import TracerProvider

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(clean_env())
        os.environ.update(spec.env)
        description: str = TracerProvider().sampler.get_description()
        return description
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@contextmanager
def uvicorn_server(name: str, target: str, env: dict[str, str], workdir: Path) -> Iterator[tuple[int, int, Path]]:
    """One uvicorn worker serving ``target``; ready within READY_TIMEOUT_S or an error; always stopped."""
    port = free_port()
    output = workdir / f"{name}.log"
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--log-level", "warning", "--no-access-log"]
    with output.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    log(f"{name}: started uvicorn pid {proc.pid} on port {port}")
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{name}: server exited with {proc.returncode} before it was ready:\n"
                                 f"{output.read_text(errors='replace')[-3000:]}")
            try:
                status, _ = http("GET", f"http://127.0.0.1:{port}{HEALTH}", timeout=1.0)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{name}: not ready after {READY_TIMEOUT_S:.0f}s:\n"
                                 f"{output.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        log(f"{name}: ready")
        yield port, proc.pid, output
        if proc.poll() is not None:
            raise BenchError(f"{name}: server died during the run (exit {proc.returncode}):\n"
                             f"{output.read_text(errors='replace')[-3000:]}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # graceful: lifespan shutdown and exporter flushes run
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"{name}: no exit {STOP_TIMEOUT_S:.0f}s after SIGTERM, killing pid {proc.pid}")
                proc.kill()
                proc.wait(timeout=5)
        log(f"{name}: stopped (exit {proc.returncode})")


# -- wrk -------------------------------------------------------------------------------------------------------

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise BenchError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ", output, re.M)
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M))
    if not rps or not total or "99" not in percentiles:
        raise BenchError(f"unreadable wrk output:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)),
        "latency_ms": {f"p{p}": _ms(v) for p, v in percentiles.items()},
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"),
                                  (int(g) for g in sock.groups()), strict=True)) if sock else {},
    }


def run_wrk(wrk: str, url: str, duration_s: int, connections: int, script: Path | None, what: str) -> dict[str, Any]:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "5s"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what}: wrk did not finish") from exc
    if proc.returncode != 0:
        raise BenchError(f"{what}: wrk exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    result = parse_wrk(proc.stdout)
    if result["non_2xx"]:
        raise BenchError(f"{what}: wrk reports {result['non_2xx']} non-2xx/3xx responses:\n{proc.stdout}")
    if any(result["socket_errors"].values()):
        raise BenchError(f"{what}: wrk reports socket errors {result['socket_errors']}:\n{proc.stdout}")
    return result


def write_lua(path: Path) -> Path:
    body = json.dumps(PROCESS_BODY)
    path.write_text('wrk.method = "POST"\n'
                    f"wrk.body = [==[{body}]==]\n"
                    'wrk.headers["Content-Type"] = "application/json"\n')
    return path


# -- part 1: throughput ------------------------------------------------------------------------------------------

def bench_app(spec: AppSpec, args: argparse.Namespace, wrk: str, sink: Sink, workdir: Path,
              lua: Path, problems: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    name = spec.name
    env = clean_env()
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_SERVICE_NAME": f"bench-{name}", **spec.env})
    before = sink.counts()
    served = 0
    rows: list[dict[str, Any]] = []
    with uvicorn_server(name, spec.target, env, workdir) as (port, pid, output):
        base = f"http://127.0.0.1:{port}"
        first = http("POST", base + PROCESS, PROCESS_BODY)
        second = http("POST", base + PROCESS, PROCESS_BODY)
        served += 3  # the readiness probe and the two priming requests
        if first[0] != 200 or second[0] != 200 or not isinstance(second[1], dict) or not second[1].get("cache_hit"):
            raise BenchError(f"{name}: priming the cache failed: {first!r} then {second!r}")
        for endpoint, path, script in (("GET /health", HEALTH, None), ("POST process (hit)", PROCESS, lua)):
            what = f"{name} {endpoint}"
            log(f"{what}: warm-up {args.warmup}s")
            warm = run_wrk(wrk, base + path, args.warmup, args.connections, script, what + " warm-up")
            log(f"{what}: measuring {args.duration}s, {args.connections} connections")
            with profiled(args.profile, pid, f"{name}-{_slug(endpoint)}", args.duration) as profile:
                cpu_before = cpu_seconds(pid)
                result = run_wrk(wrk, base + path, args.duration, args.connections, script, what)
                cpu_after = cpu_seconds(pid)
            served += warm["requests"] + result["requests"]
            cpu_us = (None if cpu_before is None or cpu_after is None or not result["requests"]
                      else (cpu_after - cpu_before) / result["requests"] * 1e6)
            log(f"{what}: {result['requests_per_s']:.0f} req/s, p99 {result['latency_ms']['p99']:.2f} ms"
                + (f", {cpu_us:.0f} µs CPU per request" if cpu_us is not None else ""))
            rows.append({"app": name, "endpoint": endpoint, **result, "server_cpu_us_per_request": cpu_us,
                         **({"profile": profile} if profile else {})})
    text = output.read_text(errors="replace").strip()
    if text and not spec.prints:
        problems.append(f"{name}: server output (expected none at log level WARNING):\n{text[-3000:]}")
    after = sink.counts()
    delta: dict[str, Any] = {k: after[k] - before[k] for k in after}
    delta["requests_served"] = served
    delta["spans_per_request"] = delta["spans"] / served if served else 0.0
    if delta["unknown_posts"] or delta["undecodable"]:
        problems.append(f"{name}: the sink got {delta['unknown_posts']} posts to unknown paths and "
                        f"{delta['undecodable']} undecodable bodies")
    return rows, delta


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# -- optional: where the time goes (py-spy) ----------------------------------------------------------------------

def _py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


@contextmanager
def profiled(directory: Path | None, pid: int, label: str, duration_s: int) -> Iterator[dict[str, Any]]:
    """py-spy sampling the server for the measured run: collapsed stacks in DIRECTORY/LABEL.txt.

    Sampling costs the server CPU: the req/s of a profiled run are not figures to quote.
    """
    found: dict[str, Any] = {}
    spy = _py_spy() if directory is not None else None
    if directory is None or spy is None:
        if directory is not None:
            log("--profile: py-spy not found (pip install py-spy into the venv); not profiling")
        yield found
        return
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{label}.txt"
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(duration_s), "--rate", "250",
                             "--format", "raw", "--nonblocking", "--full-filenames", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield found
    finally:
        try:
            _, err = proc.communicate(timeout=duration_s + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if out.exists():
            found.update({"file": str(out), "summary": summarize_profile(out)})
        else:
            log(f"--profile: py-spy wrote nothing for {label}: {err.decode(errors='replace')[-500:]}")


_TELEMETRY = ("/opentelemetry/", f"{REPO}/instrumentation/")
_SERVING = ("/starlette/", "/fastapi/", "/uvicorn/", "/httptools/", "/pydantic/", f"{REPO}/app/", f"{REPO}/bench/")


def _short(frame: str) -> str:
    """``f (/…/site-packages/opentelemetry/sdk/x.py:12)`` -> ``f (opentelemetry/sdk/x.py)``."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\((?:.*/site-packages/|" + re.escape(str(REPO)) + "/)", "(", frame)


def summarize_profile(path: Path, limit: int = 12) -> dict[str, Any]:
    """Shares of the server's samples: telemetry on the request path, background threads, the rest.

    A request-path sample is telemetry when, walking up from the leaf frame, a telemetry frame
    (opentelemetry, instrumentation) comes before any frame of the serving stack (starlette, fastapi,
    uvicorn, app). Telemetry is then attributed to its entry point: the outermost frame of that run of
    telemetry frames (``Histogram.record`` called by the cache, ``LeanHTTPMiddleware._finish``, ...).
    Background samples (span export, metric export, history) are attributed to their thread's entry point.
    """
    total = 0
    shares = {"telemetry on the request path": 0, "background threads (export, history)": 0, "the rest": 0}
    entries: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        if any("/threading.py:" in f for f in frames[:4]):  # a thread of its own, not the event loop
            shares["background threads (export, history)"] += n
            worker = next((f for f in frames if any(t in f for t in _TELEMETRY)), frames[min(3, len(frames) - 1)])
            entries[f"[thread] {_short(worker)}"] = entries.get(f"[thread] {_short(worker)}", 0) + n
            continue
        entry = None
        for i in range(len(frames) - 1, -1, -1):
            if any(t in frames[i] for t in _TELEMETRY):
                while i > 0 and any(t in frames[i - 1] for t in _TELEMETRY):
                    i -= 1
                # A middleware's __call__ wraps the whole request: name the telemetry step inside it.
                while (i + 1 < len(frames) and frames[i].split(" (")[0].endswith(".__call__")
                       and any(t in frames[i + 1] for t in _TELEMETRY)):
                    i += 1
                entry = frames[i]
                break
            if any(t in frames[i] for t in _SERVING):
                break
        if entry is None:
            shares["the rest"] += n
        else:
            shares["telemetry on the request path"] += n
            entries[_short(entry)] = entries.get(_short(entry), 0) + n
    if not total:
        return {}
    return {"samples": total, "shares": {k: v / total for k, v in shares.items()},
            "entry_points": [(k, v / total) for k, v in sorted(entries.items(), key=lambda kv: -kv[1])[:limit]]}


def print_profiles(rows: list[dict[str, Any]]) -> None:
    print("\nWhere the time goes (py-spy, the measured run of the last round; µs per request = share of the "
          "server's samples * its CPU µs per request):")
    for row in rows:
        last = row.get("per_round", [row])[-1]
        profile, cpu = last.get("profile"), last.get("server_cpu_us_per_request")
        if not profile or not profile.get("summary") or not cpu:
            continue
        summary = profile["summary"]
        print(f"\n{row['app']} {row['endpoint']}: {cpu:.0f} µs CPU per request ({summary['samples']} samples, "
              f"{profile['file']})")
        for what, share in summary["shares"].items():
            print(f"  {share * cpu:7.1f} µs  {what}")
        for entry, share in summary["entry_points"]:
            print(f"  {share * cpu:7.1f} µs    {entry}")


def combine_rounds(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per app and endpoint: the median req/s and the median p99 over the rounds."""
    combined = []
    for i, first in enumerate(rounds[0]):
        same = [r[i] for r in rounds]
        combined.append({
            "app": first["app"], "endpoint": first["endpoint"], "rounds": len(same),
            "requests_per_s": statistics.median(r["requests_per_s"] for r in same),
            "latency_ms": {"p99": statistics.median(r["latency_ms"]["p99"] for r in same),
                           "p50": statistics.median(r["latency_ms"]["p50"] for r in same)},
            "server_cpu_us_per_request": (statistics.median(cpu) if (cpu := [
                r["server_cpu_us_per_request"] for r in same if r["server_cpu_us_per_request"] is not None]) else None),
            "per_round": same,
        })
    return combined


def add_ratios(rows: list[dict[str, Any]]) -> None:
    by = {(r["app"], r["endpoint"]): r for r in rows}

    def ratio(row: dict[str, Any], other: str, key: Callable[[dict[str, Any]], float]) -> float | None:
        ref = by.get((other, row["endpoint"]))
        return key(row) / key(ref) if ref and key(ref) else None

    def rps(r: dict[str, Any]) -> float:
        return float(r["requests_per_s"])

    def p99(r: dict[str, Any]) -> float:
        return float(r["latency_ms"]["p99"])

    for row in rows:
        row["throughput_ratio_to_bare"] = ratio(row, "bare", rps)
        row["p99_ratio_to_bare"] = ratio(row, "bare", p99)
        full = row["app"] in ("full", "full-on")
        row["throughput_ratio_to_stock"] = ratio(row, "stock", rps) if full else None
        row["throughput_ratio_to_full_notel"] = ratio(row, "full-notel", rps) if full else None
        row["throughput_ratio_to_bare_sync"] = ratio(row, "bare-sync", rps) if full else None


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_throughput(rows: list[dict[str, Any]], exports: dict[str, dict[str, Any]], samplers: dict[str, str],
                     args: argparse.Namespace, load: tuple[float, float]) -> None:
    rounds = f", median of {args.rounds} interleaved rounds" if args.rounds > 1 else ""
    print(f"\nThroughput and p99: wrk -t1 -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up"
          f"{rounds}; uvicorn 1 worker; {os.cpu_count()} CPUs; load average {load[0]:.2f} before, {load[1]:.2f} after")
    if args.profile:
        print("Profiled with py-spy (--profile): sampling slows the servers, these req/s are not figures to quote.")
    header = (f"{'app':<10} {'endpoint':<19} {'req/s':>7} {'p99 ms':>8} {'cpu µs/req':>10} {'thr/bare':>9} "
              f"{'p99/bare':>9} {'thr/stock':>10} {'thr/notel':>10}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['app']:<10} {r['endpoint']:<19} {r['requests_per_s']:>7.0f} {r['latency_ms']['p99']:>8.2f} "
              f"{_f(r['server_cpu_us_per_request'], 0):>10} {_f(r['throughput_ratio_to_bare']):>9} "
              f"{_f(r['p99_ratio_to_bare']):>9} {_f(r['throughput_ratio_to_stock']):>10} "
              f"{_f(r['throughput_ratio_to_full_notel']):>10}")
    print("\nSamplers (as the SDK resolves each app's environment):")
    for name, sampler in samplers.items():
        print(f"  {name:<10} {sampler}")
    print("\nExported to the sink (whole server lifetime, both endpoints):")
    for name, d in exports.items():
        print(f"  {name:<10} {d['spans']:>8} spans for {d['requests_served']:>7} requests "
              f"= {d['spans_per_request']:.2f} spans/request; {d['trace_posts']} trace posts, "
              f"{d['metric_posts']} metric posts, {d['log_records']} log records, {d['bytes'] / 1e6:.1f} MB")


# -- part 3: runbook endpoints with a full history ---------------------------------------------------------------

def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _expect(response: Any, status: int, what: str) -> None:
    if response.status_code != status:
        raise BenchError(f"{what}: expected {status}, got {response.status_code}: {response.text[:500]}")


async def drive_traffic(client: Any) -> int:
    """A bit of every kind of traffic, so the snapshots carry the series a serving instance has."""
    sent = 0
    for op in ("summarize", "sentiment", "key_points", "questions", "qa"):
        for i in range(8):
            body: dict[str, Any] = {"text": f"{TEXT} Variant number {i} of the {op} text.", "operation": op}
            if op == "qa":
                body["question"] = "How was the upgrade?"
            for _ in range(2):  # a miss, then a hit
                _expect(await client.post(PROCESS, json=body), 200, f"traffic {op}")
                sent += 1
    for _ in range(10):
        _expect(await client.post(PROCESS, json={"text": "short", "operation": "sentiment"}), 422, "traffic 422")
        _expect(await client.get(HEALTH), 200, "traffic health")
        sent += 2
    _expect(await client.get("/v1/text_processing/operations"), 200, "traffic operations")
    for _label, path in RUNBOOK_ENDPOINTS:
        _expect(await client.get(path), 200, f"traffic {path}")
    return sent + 1 + len(RUNBOOK_ENDPOINTS)


def _scaled(snapshot: Any, timestamp: float, fraction: float) -> Any:
    """The snapshot at an earlier time: cumulative counters and histograms scaled down, gauges as they are."""
    kinds = {name: meta.kind for name, meta in snapshot.meta.items()}
    values = {key: (v * fraction if kinds.get(key[0]) == "counter" else v) for key, v in snapshot.values.items()}
    histograms = {}
    for key, h in snapshot.histograms.items():
        counts = tuple(int(c * fraction) for c in h.counts)
        histograms[key] = dataclasses.replace(h, count=sum(counts), sum=h.sum * fraction, counts=counts)
    return dataclasses.replace(snapshot, timestamp=timestamp, values=values, histograms=histograms)


def fill_history(history: Any) -> dict[str, Any]:
    """A 7-day history at the configured interval, recorded oldest first through ``history.record``."""
    template = history.latest()
    steps = int(history.retention_s // history.interval_s)
    now = time.time()
    # start() recorded a baseline at start-up; it is newer than the synthetic past, so it would sit first in
    # a time-ordered list. Drop it (private state, benchmark only) so the history stays ordered.
    with history._lock:
        history._snapshots.clear()
    started = time.perf_counter()
    for i in range(steps):
        history.record(_scaled(template, now - (steps - i) * history.interval_s, (i + 1) / (steps + 1)))
    fill_s = time.perf_counter() - started
    kept = history.snapshots()
    return {
        "recorded": steps, "interval_s": history.interval_s, "retention_s": history.retention_s,
        "kept": len(kept), "memory_bytes": history.memory_bytes(),
        "series_per_snapshot": len(template.values) + len(template.histograms),
        "ordered": all(a.timestamp <= b.timestamp for a, b in pairwise(kept)),
        "span_hours": (kept[-1].timestamp - kept[0].timestamp) / 3600 if kept else 0.0,
        "fill_seconds": fill_s,
    }


def bench_runbook(sink: Sink, calls: int) -> dict[str, Any]:
    env = clean_env()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
    os.environ.clear()
    os.environ.update(env)
    from app.main import create_app

    return asyncio.run(_runbook(create_app(), calls))


async def _runbook(app: Any, calls: int) -> dict[str, Any]:
    """The app's lifespan, then httpx over ASGI in the app's own event loop: no server, no thread hop."""
    import httpx

    timings: list[dict[str, Any]] = []
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        log("runbook: driving traffic")
        sent = await drive_traffic(client)
        history = app.state.services.telemetry.history
        log("runbook: filling 7 days of history")
        fill = fill_history(history)
        if not fill["ordered"]:
            raise BenchError("runbook: the filled history is not in time order")
        log(f"runbook: {fill['kept']} snapshots kept, {fill['memory_bytes'] / 1024:.0f} KiB; "
            f"timing {calls} calls per endpoint")
        for label, path in RUNBOOK_ENDPOINTS:
            for _ in range(5):
                _expect(await client.get(path), 200, label)
            samples = []
            size = 0
            for _ in range(calls):
                t0 = time.perf_counter()
                response = await client.get(path)
                samples.append((time.perf_counter() - t0) * 1000)
                _expect(response, 200, label)
                size = len(response.content)
            timings.append({"endpoint": label, "path": path, "calls": calls,
                            "p50_ms": _percentile(samples, 0.50), "p99_ms": _percentile(samples, 0.99),
                            "max_ms": max(samples), "response_bytes": size})
            log(f"runbook: {label}: p50 {timings[-1]['p50_ms']:.2f} ms, p99 {timings[-1]['p99_ms']:.2f} ms")
        # After the answers: snapshots they read carry their by-name indexes (counted by memory_bytes).
        fill["memory_bytes_after_calls"] = history.memory_bytes()
    return {"traffic_requests": sent, "history": fill, "endpoints": timings}


def print_runbook(runbook: dict[str, Any]) -> None:
    h = runbook["history"]
    print(f"\nRunbook endpoints in-process (httpx ASGITransport, app lifespan running), "
          f"{runbook['endpoints'][0]['calls']} sequential calls each.\n"
          f"History filled with {h['recorded']} snapshots at "
          f"{h['interval_s']:.0f}s over {h['retention_s'] / 3600:.0f}h: {h['kept']} kept "
          f"(spanning {h['span_hours']:.1f}h, {h['series_per_snapshot']} series each), "
          f"history.memory_bytes() = {h['memory_bytes']} ({h['memory_bytes'] / 1024:.0f} KiB), "
          f"{h['memory_bytes_after_calls'] / 1024:.0f} KiB after the calls")
    header = f"{'endpoint':<32} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'bytes':>8}"
    print(header)
    print("-" * len(header))
    for t in runbook["endpoints"]:
        print(f"{t['endpoint']:<32} {t['calls']:>6} {t['p50_ms']:>8.2f} {t['p99_ms']:>8.2f} {t['max_ms']:>8.2f} "
              f"{t['response_bytes']:>8}")


# -- main --------------------------------------------------------------------------------------------------------

def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("fastapi", "starlette", "uvicorn", "opentelemetry-sdk", "opentelemetry-instrumentation-fastapi"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "?"
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, help="seconds measured per app and endpoint (default 10, quick 3)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each measurement (default 2, quick 1)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--runbook-calls", type=int, help="sequential calls per runbook endpoint (default 200, "
                                                            "quick 50)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run bare, stock, full this many times, interleaved; report medians (default 1)")
    parser.add_argument("--quick", action="store_true", help="a short run: a smoke test, not figures to quote")
    parser.add_argument("--skip-runbook", action="store_true", help="only the wrk part")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON to PATH")
    parser.add_argument("--apps", default=",".join(DEFAULT_APPS),
                        help=f"comma-separated, in run order, from {', '.join(APPS)} "
                             f"(default {','.join(DEFAULT_APPS)})")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample each server with py-spy during its measured runs; collapsed stacks in DIR and "
                             "the heaviest frames in µs per request (slows the servers: not for figures)")
    args = parser.parse_args(argv)
    defaults: dict[str, Callable[[], int]] = {
        "duration": lambda: 3 if args.quick else 10,
        "warmup": lambda: 1 if args.quick else 2,
        "runbook_calls": lambda: 50 if args.quick else 200,
    }
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default())
    args.apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    unknown = [a for a in args.apps if a not in APPS]
    if unknown or not args.apps:
        parser.error(f"--apps: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(APPS)}")
    if args.duration < 1 or args.warmup < 1 or args.connections < 1 or args.runbook_calls < 1 or args.rounds < 1:
        parser.error("--duration, --warmup, --connections, --rounds and --runbook-calls must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        log("FAILED: wrk is not installed (apt-get install wrk)")
        return 2
    problems: list[str] = []
    results: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
                 "platform": platform.platform(), "cpus": os.cpu_count(), "wrk": wrk, "versions": _versions(),
                 "duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                 "wrk_threads": 1, "uvicorn_workers": 1},
    }
    load_before = os.getloadavg()[0]
    sink = Sink()
    sink.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
            workdir = Path(tmp)
            lua = write_lua(workdir / "process.lua")
            rounds: list[list[dict[str, Any]]] = []
            exports: dict[str, dict[str, Any]] = {}
            for round_no in range(1, args.rounds + 1):
                if args.rounds > 1:
                    log(f"round {round_no} of {args.rounds}")
                this_round: list[dict[str, Any]] = []
                for name in args.apps:
                    app_rows, export = bench_app(APPS[name], args, wrk, sink, workdir, lua, problems)
                    this_round += app_rows
                    total = exports.setdefault(name, dict.fromkeys(export, 0))
                    for key, value in export.items():
                        total[key] += value
                rounds.append(this_round)
            for export in exports.values():
                served = export["requests_served"]
                export["spans_per_request"] = export["spans"] / served if served else 0.0
            rows = combine_rounds(rounds)
            add_ratios(rows)
            samplers = {name: sampler_of(APPS[name]) for name in args.apps}
            results["throughput"] = rows
            results["exports"] = exports
            results["samplers"] = samplers
            load = (load_before, os.getloadavg()[0])
            results["meta"]["load_average_1m"] = {"before": load[0], "after": load[1]}
            print_throughput(rows, exports, samplers, args, load)
            if args.profile:
                print_profiles(rows)
            if load[0] > 0.5 or load[1] > (os.cpu_count() or 1) + 0.5:
                log(f"note: the machine was busy (load average {load[0]:.2f} before, {load[1]:.2f} after): "
                    "figures are noisy, prefer --rounds 3 on a quiet machine")
        if not args.skip_runbook:
            log("runbook: building the full app in-process")
            results["runbook"] = bench_runbook(sink, args.runbook_calls)
            print_runbook(results["runbook"])
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 2
    finally:
        sink.stop()
    results["problems"] = problems
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        log(f"wrote {args.json}")
    if problems:
        print("\nPROBLEMS:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
