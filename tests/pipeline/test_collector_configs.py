"""Every Collector configuration the repo ships, as its users start it, passes the built Collector's
own `validate` (components exist in the build, pipelines are wired, every exporter is used): the local
stack (base + local, and + traces-file when TRACES_FILE is set), its two tiers (+ agent; + gateway and
its generated policies) and compose (base + compose, which runs in the contrib image; our build has the
same components; the compose gateways: + gateway + policies + compose-gateway). The compose agent's
overlay (compose-agent.yaml) uses the contrib `load_balancing` exporter, which our build lacks: it is
validated with that exporter replaced by the otlp_grpc exporter its `protocol.otlp` template builds
(tests/unit/test_compose_tiers.py checks the rest without a binary). Jaeger v2 is a Collector too: its
one config validates with the local stack's environment and with compose's. The gateway's policies
are what the KPI catalog generates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from app.monitoring import sampling
from app.monitoring.kpis import build_catalog

from .stack import REPO_ROOT, SCRIPTS, SETUP_TIMEOUT

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 60)]

CONFIGS = REPO_ROOT / "collector" / "otelcol"


GATEWAY = ("local.yaml", "gateway.yaml", "gateway-policies.yaml")
COMPOSE_GATEWAY = ("gateway.yaml", "gateway-policies.yaml", "compose-gateway.yaml")


@pytest.mark.parametrize("overlays", [("local.yaml",), ("local.yaml", "traces-file.yaml"), ("compose.yaml",),
                                      ("local.yaml", "agent.yaml"), GATEWAY, COMPOSE_GATEWAY])
def test_shipped_config_validates(overlays: tuple[str, ...]) -> None:
    args = [f"--config={CONFIGS / name}" for name in ("base.yaml", *overlays)]
    validate(built("build-collector.sh"), args, {"TRACES_FILE": "/tmp/traces.json", "RUN_DIR": "/tmp"})


def test_compose_agent_validates_with_a_stand_in_for_load_balancing(tmp_path: Path) -> None:
    """Everything in compose-agent.yaml but the load_balancing exporter itself: the per-gateway
    exporter its template builds (otlp_grpc, with the first gateway as endpoint) is a valid one, and the
    pipelines around it are wired."""
    overlay = yaml.safe_load((CONFIGS / "compose-agent.yaml").read_text())
    [(name, balancer)] = overlay["exporters"].items()
    assert name.split("/")[0] == "load_balancing"
    stand_in = "otlp_grpc/stand-in-for-load-balancing"
    endpoint = balancer["resolver"]["static"]["hostnames"][0]
    overlay["exporters"] = {stand_in: {**balancer["protocol"]["otlp"], "endpoint": endpoint}}
    traces = overlay["service"]["pipelines"]["traces"]
    traces["exporters"] = [stand_in if e == name else e for e in traces["exporters"]]
    path = tmp_path / "compose-agent-stand-in.yaml"
    path.write_text(yaml.safe_dump(overlay))
    args = [f"--config={CONFIGS / 'base.yaml'}", f"--config={CONFIGS / 'compose.yaml'}", f"--config={path}"]
    validate(built("build-collector.sh"), args, {})


def test_gateway_policies_file_matches_the_kpi_catalog() -> None:
    assert (CONFIGS / "gateway-policies.yaml").read_text() == sampling.render(), "regenerate with `make generate`"
    policies = yaml.safe_load(sampling.render())["processors"]["tail_sampling"]["policies"]
    by_type = {p["type"]: p for p in policies}
    assert by_type["latency"]["latency"]["threshold_ms"] == build_catalog_threshold("ApiLatencyP95High")
    assert by_type["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert set(by_type) == {"status_code", "latency", "probabilistic"}


def test_a_bad_sampling_percentage_is_refused_at_start() -> None:
    """The share comes from TAIL_SAMPLING_PERCENTAGE: a value that is not a number stops the gateway
    (validate fails) rather than silently sampling nothing."""
    args = [f"--config={CONFIGS / name}" for name in ("base.yaml", *GATEWAY)]
    done = subprocess.run([built("build-collector.sh"), "validate", *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "TAIL_SAMPLING_PERCENTAGE": "ten"})
    assert done.returncode != 0 and "sampling_percentage" in done.stderr, done.stderr


def build_catalog_threshold(name: str) -> int:
    return int(next(k.threshold for k in build_catalog() if k.name == name))


def compose_environment(service: str) -> dict[str, str]:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return {k: str(v) for k, v in compose["services"][service]["environment"].items()}


@pytest.mark.parametrize("where", ["local", "compose"])
def test_jaeger_config_validates(where: str) -> None:
    env = compose_environment("jaeger") if where == "compose" else {}
    validate(built("build-go-tool.sh", "jaeger"), [f"--config={REPO_ROOT / 'collector' / 'jaeger' / 'jaeger.yaml'}"],
             env)


def built(script: str, *args: str) -> str:
    """The cached binary's path (built first when its pin changed): the script's last line."""
    done = subprocess.run([str(SCRIPTS / script), *args], capture_output=True, text=True, check=True,
                          timeout=SETUP_TIMEOUT)
    return done.stdout.strip().splitlines()[-1]


def validate(binary: str, args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([binary, "validate", *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})
    assert done.returncode == 0, done.stderr
