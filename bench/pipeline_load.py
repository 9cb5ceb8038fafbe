"""What the two Collector tiers hold: spans pushed through agent -> gateway (tail sampling) -> Jaeger
at rising rates, as the project's scripts start them (scripts/collector.sh OTELCOL_TIER=agent,
scripts/gateway.sh, scripts/jaeger.sh), each on free ports in a run directory of its own.

    .venv/bin/python bench/pipeline_load.py                         # 1000, 2000, 4000, 8000 spans/s, 10 s each
    .venv/bin/python bench/pipeline_load.py --rates 500,1000 --duration 5
    .venv/bin/python bench/pipeline_load.py --json bench/results/pipeline.json

The load is OTLP/HTTP protobuf posted to the agent, as the service's exporter sends it: traces of
4 spans (a server span with three children, one trace in ten an error), encoded before the run so
the generator spends its CPU on sending, not on building spans. Every trace id is new.

Per rate step, from the Collectors' own metrics (their :8888-style endpoints) and /proc:
- ``held``: spans the agent accepted ÷ spans offered (1.00: nothing refused at the door);
- ``fwd``: spans the gateway received ÷ spans the agent accepted, counted once the agent's queue has
  drained after the step (1.00: nothing lost between the tiers);
- ``kept``: spans the gateway exported to Jaeger ÷ spans it received (the tail-sampling share:
  errors, slow traces, TAIL_SAMPLING_PERCENTAGE of the rest);
- ``drops``: spans refused by a receiver or a processor, or failed or not enqueued by an exporter, in
  the agent and in the gateway;
- CPU of each Collector in µs per offered span and as % of one core, and its RSS at the step's end.

The generator shares the machine's cores with both Collectors and Jaeger: the figures say what this
machine held with everything on it, not what a Collector holds alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
TRACES_PER_POST = 64  # 256 spans a post: the size of a batch the SDK's processor sends
SPANS_PER_TRACE = 4


def log(message: str) -> None:
    print(f"[pipeline-load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _attr(key: str, value: str | int) -> KeyValue:
    any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=any_value)


def encode_post(rng: random.Random, start_ns: int) -> bytes:
    """One OTLP export request: TRACES_PER_POST traces of SPANS_PER_TRACE spans, fresh ids."""
    spans: list[Span] = []
    for _ in range(TRACES_PER_POST):
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        failed = rng.random() < 0.1
        spans.append(Span(
            trace_id=trace_id, span_id=root_id, name="POST /v1/text_processing/process", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start_ns, end_time_unix_nano=start_ns + 40_000_000,
            attributes=[_attr("http.request.method", "POST"), _attr("http.route", "/v1/text_processing/process"),
                        _attr("http.response.status_code", 502 if failed else 200)],
            status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET)))
        for index, name in enumerate(("PIPELINE", "chat gpt-test", "SET")):
            spans.append(Span(
                trace_id=trace_id, span_id=rng.randbytes(8), parent_span_id=root_id, name=name,
                kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start_ns + index * 10_000_000,
                end_time_unix_nano=start_ns + (index + 1) * 10_000_000,
                attributes=[_attr("db.system.name", "redis")] if name != "chat gpt-test" else
                [_attr("gen_ai.operation.name", "chat"), _attr("gen_ai.provider.name", "openai")]))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[_attr("service.name", "pipeline-load")]),
        scope_spans=[ScopeSpans(spans=spans)])])
    encoded: bytes = request.SerializeToString()
    return encoded


@dataclass
class Tier:
    name: str  # "agent", "gateway"
    script: str
    metrics_port: int
    env: dict[str, str]

    def pid(self, run_dir: Path) -> int:
        # collector.sh keeps the agent in $RUN_DIR/collector, gateway.sh the gateway in $RUN_DIR/gateway
        return int((run_dir / ("collector" if self.name == "agent" else "gateway") / "otelcol.pid").read_text())


def counters(port: int) -> dict[str, float]:
    """The Collector's own span counters, summed over their labels: name -> value."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or "spans" not in line.split("{")[0]:
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{")[0]
        out[base] = out.get(base, 0.0) + float(value)
    return out


def process_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, RSS in MB) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))
    return cpu, rss_kb / 1024


def total(values: dict[str, float], *names: str) -> float:
    return sum(values.get(n, 0.0) for n in names)


ACCEPTED = "otelcol_receiver_accepted_spans_total"
SENT = "otelcol_exporter_sent_spans_total"
DROPPED = ("otelcol_receiver_refused_spans_total", "otelcol_exporter_send_failed_spans_total",
           "otelcol_exporter_enqueue_failed_spans_total", "otelcol_processor_refused_spans_total")


@dataclass
class Step:
    offered_per_s: int
    sent_per_s: float  # what the generator managed to post
    held: float
    fwd: float
    kept: float
    agent_drops: int
    gateway_drops: int
    agent_cpu_us_per_span: float
    agent_cpu_percent: float
    agent_rss_mb: float
    gateway_cpu_us_per_span: float
    gateway_cpu_percent: float
    gateway_rss_mb: float


def push(client: httpx.Client, url: str, posts: list[bytes], rate: int, duration: float) -> int:
    """Post at ``rate`` spans a second for ``duration`` seconds; the spans posted."""
    per_post = TRACES_PER_POST * SPANS_PER_TRACE
    interval = per_post / rate
    start = time.monotonic()
    sent = 0
    for index, body in enumerate(posts):
        due = start + index * interval
        if due - start >= duration:
            break
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        client.post(url, content=body, headers={"Content-Type": "application/x-protobuf"}).raise_for_status()
        sent += per_post
    return sent


def run(rates: list[int], duration: float, percentage: str) -> list[Step]:
    run_dir = Path(tempfile.mkdtemp(prefix="pipeline-load-"))
    ports = {k: free_port() for k in ("jaeger_grpc", "jaeger_http", "jaeger_query", "jaeger_query_grpc",
                                      "jaeger_health", "jaeger_metrics", "gw_grpc", "gw_http", "gw_health",
                                      "gw_metrics", "agent_grpc", "agent_http", "agent_health", "agent_metrics",
                                      "agent_prom")}
    env = {**os.environ, "RUN_DIR": str(run_dir), "JAEGER_OTLP_GRPC_PORT": str(ports["jaeger_grpc"]),
           "JAEGER_OTLP_HTTP_PORT": str(ports["jaeger_http"]), "JAEGER_QUERY_PORT": str(ports["jaeger_query"]),
           "JAEGER_QUERY_GRPC_PORT": str(ports["jaeger_query_grpc"]),
           "JAEGER_HEALTH_PORT": str(ports["jaeger_health"]), "JAEGER_METRICS_PORT": str(ports["jaeger_metrics"]),
           "GATEWAY_OTLP_GRPC_PORT": str(ports["gw_grpc"]), "GATEWAY_OTLP_HTTP_PORT": str(ports["gw_http"]),
           "GATEWAY_HEALTH_PORT": str(ports["gw_health"]), "GATEWAY_METRICS_PORT": str(ports["gw_metrics"]),
           "TAIL_SAMPLING_PERCENTAGE": percentage, "TAIL_SAMPLING_DECISION_WAIT": "2s",
           "OTLP_GRPC_PORT": str(ports["agent_grpc"]), "OTLP_HTTP_PORT": str(ports["agent_http"]),
           "OTELCOL_HEALTH_PORT": str(ports["agent_health"]), "OTELCOL_METRICS_PORT": str(ports["agent_metrics"]),
           "PROM_EXPORTER_PORT": str(ports["agent_prom"]), "VICTORIALOGS_PORT": str(free_port())}
    agent = Tier("agent", "collector.sh", ports["agent_metrics"], {"OTELCOL_TIER": "agent"})
    gateway = Tier("gateway", "gateway.sh", ports["gw_metrics"], {})
    started: list[tuple[str, dict[str, str]]] = []
    try:
        for script, extra in (("jaeger.sh", {}), ("gateway.sh", {}), ("collector.sh", agent.env)):
            log(f"starting {script}")
            subprocess.run([str(SCRIPTS / script), "start"], env={**env, **extra}, check=True,
                           stdout=subprocess.DEVNULL, timeout=300)
            started.append((script, extra))
        rng = random.Random(14)
        per_post = TRACES_PER_POST * SPANS_PER_TRACE
        needed = sum(int(rate * duration / per_post) + 1 for rate in rates)
        log(f"encoding {needed} posts of {per_post} spans")
        now_ns = time.time_ns()
        posts = [encode_post(rng, now_ns) for _ in range(needed)]
        pids = {t.name: t.pid(run_dir) for t in (agent, gateway)}
        url = f"http://127.0.0.1:{ports['agent_http']}/v1/traces"
        steps: list[Step] = []
        with httpx.Client(timeout=10) as client:
            for rate in rates:
                before = {t.name: counters(t.metrics_port) for t in (agent, gateway)}
                cpu_before = {name: process_stats(pid)[0] for name, pid in pids.items()}
                start = time.monotonic()
                batch = int(rate * duration / per_post) + 1
                sent = push(client, url, posts[:batch], rate, duration)
                del posts[:batch]
                elapsed = time.monotonic() - start
                stats = {name: process_stats(pid) for name, pid in pids.items()}
                time.sleep(4)  # the agent's batch and queue drain into the gateway, and its decision wait (2 s) passes
                after = {t.name: counters(t.metrics_port) for t in (agent, gateway)}
                delta = {name: {k: after[name].get(k, 0.0) - before[name].get(k, 0.0) for k in after[name]}
                         for name in after}
                accepted = total(delta["agent"], ACCEPTED)
                received = total(delta["gateway"], ACCEPTED)
                exported = total(delta["gateway"], SENT)
                cpu = {name: stats[name][0] - cpu_before[name] for name in pids}
                step = Step(
                    offered_per_s=rate, sent_per_s=round(sent / elapsed, 1),
                    held=round(accepted / sent, 3) if sent else 0.0,
                    fwd=round(received / accepted, 3) if accepted else 0.0,
                    kept=round(exported / received, 3) if received else 0.0,
                    agent_drops=int(total(delta["agent"], *DROPPED)),
                    gateway_drops=int(total(delta["gateway"], *DROPPED)),
                    agent_cpu_us_per_span=round(cpu["agent"] / sent * 1e6, 1) if sent else 0.0,
                    agent_cpu_percent=round(100 * cpu["agent"] / elapsed, 1), agent_rss_mb=round(stats["agent"][1], 1),
                    gateway_cpu_us_per_span=round(cpu["gateway"] / sent * 1e6, 1) if sent else 0.0,
                    gateway_cpu_percent=round(100 * cpu["gateway"] / elapsed, 1),
                    gateway_rss_mb=round(stats["gateway"][1], 1))
                log(f"{rate} spans/s: {step}")
                steps.append(step)
        return steps
    finally:
        for script, extra in reversed(started):
            subprocess.run([str(SCRIPTS / script), "stop"], env={**env, **extra}, stdout=subprocess.DEVNULL,
                           timeout=60, check=False)


def table(steps: list[Step], duration: float, percentage: str) -> str:
    lines = [f"agent -> gateway -> Jaeger, {duration:g} s a step, TAIL_SAMPLING_PERCENTAGE={percentage}; "
             f"{os.cpu_count()} CPUs shared by the generator, both Collectors and Jaeger",
             f"{'offered/s':>9} {'sent/s':>8} {'held':>5} {'fwd':>5} {'kept':>5} {'drops a/gw':>11} "
             f"{'agent µs/span':>13} {'agent %cpu':>10} {'agent MB':>8} {'gw µs/span':>10} {'gw %cpu':>7} {'gw MB':>6}"]
    for s in steps:
        lines.append(f"{s.offered_per_s:>9} {s.sent_per_s:>8.0f} {s.held:>5.2f} {s.fwd:>5.2f} {s.kept:>5.2f} "
                     f"{s.agent_drops:>5}/{s.gateway_drops:<5} {s.agent_cpu_us_per_span:>13.1f} "
                     f"{s.agent_cpu_percent:>10.1f} {s.agent_rss_mb:>8.1f} {s.gateway_cpu_us_per_span:>10.1f} "
                     f"{s.gateway_cpu_percent:>7.1f} {s.gateway_rss_mb:>6.1f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,2000,4000,8000", help="spans per second, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate step")
    parser.add_argument("--percentage", default="10", help="TAIL_SAMPLING_PERCENTAGE for the gateway")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    steps = run(rates, args.duration, args.percentage)
    print(table(steps, args.duration, args.percentage))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(s) for s in steps], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
