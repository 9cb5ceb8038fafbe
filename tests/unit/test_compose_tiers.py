"""The two Collector tiers of docker-compose.yml, checked without Docker and without the contrib binary.

The agent (`otel-collector`) sends traces through the contrib `load_balancing` exporter, which is not
in the project's own Collector build, so `otelcol-llm validate` cannot load its config
(tests/pipeline/test_collector_configs.py validates it with the exporter replaced by the otlp_grpc
exporter its template builds). What can be checked here, on each service's configs merged as the
Collector merges them (maps key by key, lists replaced whole) with its compose environment:

- every pipeline's receivers, processors and exporters are defined;
- the agent routes traces by trace id to a static list that is exactly the gateway services, on the
  port where their OTLP/gRPC receiver listens, and sends no trace around them;
- each gateway tail-samples and exports to the trace stores by their compose names, and its health
  endpoint is the port it publishes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .test_compose import ROOT, services

CONFIG_DIR = "/etc/otelcol/"
GATEWAYS = ("otel-gateway-1", "otel-gateway-2")
_ENV_REF = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-([^}]*))?\}")
_COMPOSE_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


def merge(base: Any, overlay: Any) -> Any:
    """The Collector's merge of --config files: maps key by key, anything else (lists) replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        return {**base, **{k: merge(base[k], v) if k in base else v for k, v in overlay.items()}}
    return overlay


def environment(service: str) -> dict[str, str]:
    """The container's environment, compose's own `${VAR:-default}` taken at its default."""
    env = services()[service].get("environment") or {}
    return {k: _COMPOSE_REF.sub(lambda m: m[2] or "", str(v)) for k, v in env.items()}


def config_files(service: str) -> list[Path]:
    """The host files behind the service's --config arguments, through its bind mounts."""
    mounts = dict(reversed(str(v).split(":")[:2]) for v in services()[service]["volumes"])
    args = [a.removeprefix("--config=") for a in services()[service]["command"]]
    assert all(a.startswith(CONFIG_DIR) and a in mounts for a in args), (service, args, mounts)
    return [(ROOT / mounts[a]).resolve() for a in args]


def collector_config(service: str, replace: dict[str, Any] | None = None) -> dict[str, Any]:
    """The service's merged config with ${env:...} filled from its environment; `replace` is one more
    overlay (a broken variant, for the tests that show the checks have teeth)."""
    env = environment(service)
    config: dict[str, Any] = {}
    for path in config_files(service):
        text = _ENV_REF.sub(lambda m: env.get(m[1], m[2] or ""), path.read_text())
        config = merge(config, yaml.safe_load(text))
    return merge(config, replace) if replace else config


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def undefined_components(config: dict[str, Any]) -> list[str]:
    problems = []
    connectors = set(config.get("connectors") or {})
    for name, pipeline in config["service"]["pipelines"].items():
        for kind, defined in (("receivers", connectors | set(config.get("receivers") or {})),
                              ("processors", set(config.get("processors") or {})),
                              ("exporters", connectors | set(config.get("exporters") or {}))):
            problems += [f"{name}: {kind} {c} undefined" for c in pipeline.get(kind, []) if c not in defined]
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"{name}: no receivers or no exporters")
    problems += [f"extension {e} undefined" for e in config["service"].get("extensions", [])
                 if e not in (config.get("extensions") or {})]
    return problems


def agent_routing_problems(config: dict[str, Any]) -> list[str]:
    """What would break trace-id routing to the compose gateways."""
    exporters = config["exporters"]
    traces = config["service"]["pipelines"]["traces"]["exporters"]
    balancers = [e for e in traces if e.split("/")[0] == "load_balancing"]
    if len(balancers) != 1:
        return [f"traces exporters {traces}: want one load_balancing exporter"]
    problems = []
    if others := [e for e in traces if e != balancers[0] and e.split("/")[0] not in config.get("connectors", {})
                  and not e.startswith("span_metrics")]:
        problems.append(f"traces also go to {others}, around the gateways' sampling")
    if "span_metrics" not in traces:
        problems.append("span metrics are not computed at the agent, from every span")
    balancer = exporters[balancers[0]]
    if balancer.get("routing_key") != "traceID":
        problems.append(f"routing_key {balancer.get('routing_key')!r}: a trace's spans would split")
    if set(balancer["resolver"]) != {"static"}:
        problems.append(f"resolver {sorted(balancer['resolver'])}: want static only")
    otlp = balancer["protocol"]["otlp"]
    if "endpoint" in otlp:
        problems.append("protocol.otlp.endpoint is set: the resolver fills it in")
    hostnames = balancer["resolver"].get("static", {}).get("hostnames", [])
    gateways = sorted(s for s in services() if s.startswith("otel-gateway"))
    if sorted(h.rsplit(":", 1)[0] for h in hostnames) != gateways:
        problems.append(f"hostnames {hostnames} are not the gateway services {gateways}")
    for hostname in hostnames:
        host, port = hostname.rsplit(":", 1)
        if host in services():
            grpc = collector_config(host)["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
            if _port(grpc) != int(port):
                problems.append(f"{hostname}: {host}'s OTLP/gRPC receiver listens on {grpc}")
    return problems


@pytest.mark.parametrize("service", ["otel-collector", *GATEWAYS])
def test_every_pipeline_component_is_defined(service: str) -> None:
    assert undefined_components(collector_config(service)) == []


def test_the_agent_routes_traces_by_trace_id_to_exactly_the_gateway_services() -> None:
    config = collector_config("otel-collector")
    assert agent_routing_problems(config) == []
    assert [p.name for p in config_files("otel-collector")] == ["base.yaml", "compose.yaml", "compose-agent.yaml"]
    # Metrics and logs leave the agent as in the single Collector: Prometheus exporter, VictoriaLogs.
    pipelines = config["service"]["pipelines"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    assert config["exporters"]["otlp_http/victorialogs"]["logs_endpoint"].startswith("http://victorialogs:9428/")
    # Each per-gateway exporter keeps base.yaml's bound: a queue in spans, and retries that end.
    [balancer] = [v for k, v in config["exporters"].items() if k.startswith("load_balancing")]
    otlp = balancer["protocol"]["otlp"]
    assert otlp["sending_queue"] == config["exporters"]["otlp_grpc/gateway"]["sending_queue"]
    assert otlp["retry_on_failure"] == config["exporters"]["otlp_grpc/gateway"]["retry_on_failure"]


@pytest.mark.parametrize(("replace", "problem"), [
    ({"exporters": {"load_balancing/gateways": {"routing_key": "service"}}}, "routing_key 'service'"),
    ({"exporters": {"load_balancing/gateways": {"resolver": {"static": {
        "hostnames": ["otel-gateway-1:4317", "otel-gateway-3:4317"]}}}}}, "are not the gateway services"),
    ({"exporters": {"load_balancing/gateways": {"resolver": {"static": {
        "hostnames": ["otel-gateway-1:4317", "otel-gateway-2:4327"]}}}}}, "receiver listens on"),
    ({"service": {"pipelines": {"traces": {"exporters": ["span_metrics", "load_balancing/gateways",
                                                         "otlp_grpc/jaeger"]}}}}, "around the gateways"),
    ({"service": {"pipelines": {"traces": {"exporters": ["load_balancing/gateways"]}}}}, "span metrics"),
], ids=["routing-key", "unknown-gateway", "wrong-port", "bypass", "no-span-metrics"])
def test_the_routing_check_has_teeth(replace: dict[str, Any], problem: str) -> None:
    problems = agent_routing_problems(collector_config("otel-collector", replace))
    assert any(problem in p for p in problems), problems


def test_an_undefined_component_is_found() -> None:
    broken = {"service": {"pipelines": {"traces": {"processors": ["memory_limiter", "groupbytrace"]}}}}
    assert undefined_components(collector_config("otel-collector", broken)) == [
        "traces: processors groupbytrace undefined"]


@pytest.mark.parametrize("service", GATEWAYS)
def test_each_gateway_tail_samples_and_exports_to_the_trace_stores(service: str) -> None:
    config = collector_config(service)
    assert [p.name for p in config_files(service)] == [
        "base.yaml", "gateway.yaml", "gateway-policies.yaml", "compose-gateway.yaml"]
    traces = config["service"]["pipelines"]["traces"]
    assert traces["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    assert traces["exporters"] == ["otlp_grpc/jaeger", "otlp_grpc/tempo"]
    assert {config["exporters"][e]["endpoint"] for e in traces["exporters"]} == {"jaeger:4317", "tempo:4317"}
    assert {"jaeger", "tempo"} <= set(services()[service]["depends_on"])
    # No span metrics and no Prometheus exporter at a gateway: they would count only what was kept.
    assert all("span_metrics" not in p.get("receivers", []) + p.get("exporters", [])
               for p in config["service"]["pipelines"].values())
    assert config["processors"]["tail_sampling"]["policies"]
    # Its health endpoint is the one port it publishes, as itself.
    health = _port(config["extensions"]["health_check"]["endpoint"])
    assert services()[service]["ports"] == [f"{health}:{health}"]


def test_the_gateways_differ_only_in_their_health_port() -> None:
    first, second = (dict(services()[g]) for g in GATEWAYS)
    for gateway in (first, second):
        gateway.pop("ports")
        gateway["environment"] = {k: v for k, v in gateway["environment"].items() if k != "HEALTH_CHECK_ENDPOINT"}
    assert first == second
