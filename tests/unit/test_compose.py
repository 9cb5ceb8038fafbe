"""docker-compose.yml, checked without Docker.

- As a compose tool reads it: tools/composecheck (the official Compose loader, compose-spec/compose-go,
  which `docker compose` itself uses) loads it with interpolation, schema validation, normalization and
  consistency checks. Skipped, with the reason, when Go is missing and no binary is cached.
- House rules (PyYAML, always): every bind-mounted host file exists, every image is pinned to a version
  tag, every service has a healthcheck and a memory limit (the Collector and VictoriaLogs have none: see
  below), and the standard ports are published as themselves.
- The trace and log stores: Jaeger (the local stack's collector/jaeger/jaeger.yaml, with the compose
  environment) and VictoriaLogs, which the
  Collector exports to by their compose names.
- Grafana's provisioned datasources, read as Grafana reads them (its interpolation of the environment):
  the fixed uids and the links panel -> exemplar -> Jaeger trace -> VictoriaLogs logs -> trace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
BUILD = ROOT / "tools" / "composecheck" / "build.sh"

# The standard ports, published on the host as themselves.
STANDARD_PORTS = {
    "backend": {8000},
    "redis": {6379},
    "otel-collector": {4317, 4318, 13133, 8888, 8889},
    "otel-gateway-1": {13134},  # health only: OTLP and own metrics inside the compose network
    "otel-gateway-2": {13135},
    "prometheus": {9090},
    "alertmanager": {9093},
    "pushgateway": {9091},
    "jaeger": {16686},  # its OTLP 4317/4318 inside the compose network only: on the host they are the Collector's
    "victorialogs": {9428},
    "tempo": {3200},
    "grafana": {3000},
    "frontend": {8501},
}
# otel/opentelemetry-collector-contrib is built FROM scratch and victoriametrics/victoria-logs on
# distroless (from v1.52.0): no shell, no wget/curl, so Docker has nothing to run a probe with inside
# the container. Their health endpoints are published and probed from outside (the Collector's
# health_check extension on :13133 and Prometheus' `up`; VictoriaLogs' GET :9428/health).
NO_HEALTHCHECK = {
    "otel-collector": ("13133:13133", "scratch image: no shell or HTTP client to probe with"),
    "otel-gateway-1": ("13134:13134", "the same scratch image"),
    "otel-gateway-2": ("13135:13135", "the same scratch image"),
    "victorialogs": ("9428:9428", "distroless image: no shell or HTTP client to probe with"),
}
GRAFANA_DATASOURCES = ROOT / "collector/grafana/provisioning/datasources/datasources.yml"


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


# --- as a compose tool reads it ---------------------------------------------------------------------
@cache
def composecheck() -> Path:
    """The composecheck binary, built (or found in ~/.cache/llm-obs-stack) by tools/composecheck/build.sh."""
    proc = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode == 2 and shutil.which("go") is None:
        pytest.skip("Go not found and no cached composecheck: the Compose loader (compose-go) is a Go library")
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def load(path: Path, *env: str) -> subprocess.CompletedProcess[str]:
    """`composecheck -strict -format json` with a clean environment (no COMPOSE_*, no stray variables)."""
    args = [str(composecheck()), "-strict", "-format", "json", *[f"-env={e}" for e in env], str(path)]
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=clean, check=False)


@pytest.mark.timeout(900)  # a cold build downloads compose-go's modules and compiles (about a minute)
def test_compose_loader_accepts_the_file_and_normalizes_it() -> None:
    proc = load(COMPOSE)
    # -strict: a warning (an unset variable without a default, an obsolete `version:`) fails too.
    assert proc.returncode == 0, proc.stderr
    project = json.loads(proc.stdout)
    assert project["name"] == "llm-observability"
    assert set(STANDARD_PORTS) <= set(project["services"])
    backend = project["services"]["backend"]
    # Interpolation defaults as documented; healthcheck durations and memory sizes normalized.
    assert backend["environment"]["LLM_PROVIDER"] == "offline"
    assert backend["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert int(backend["deploy"]["resources"]["limits"]["memory"]) == 512 * 1024 * 1024
    # depends_on conditions refer to services that exist and have a healthcheck (consistency check).
    for name, svc in project["services"].items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            if spec["condition"] == "service_healthy":
                assert project["services"][dep].get("healthcheck"), f"{name} waits for {dep}'s health"
    # Bind mounts resolved to absolute host paths, as `docker compose config` prints them.
    binds = [v["source"] for s in project["services"].values() for v in s.get("volumes", []) if v["type"] == "bind"]
    assert binds and all(Path(b).is_absolute() and Path(b).exists() for b in binds), binds


def test_compose_loader_applies_the_environment() -> None:
    proc = load(COMPOSE, "LLM_PROVIDER=openai", "RESILIENCE_PRESET=development")
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)["services"]["backend"]["environment"]
    assert (env["LLM_PROVIDER"], env["RESILIENCE_PRESET"]) == ("openai", "development")


@pytest.mark.parametrize(("change", "message"), [
    ({"mem_limit_typo": "1G"}, "mem_limit_typo"),  # schema: no such service property
    ({"depends_on": {"memcached": {"condition": "service_started"}}}, "memcached"),  # consistency
    ({"healthcheck": {"test": ["CMD", "true"], "interval": "ten seconds"}}, "ten seconds"),  # a duration
], ids=["schema", "consistency", "duration"])
def test_compose_loader_rejects_what_docker_compose_rejects(tmp_path: Path, change: dict[str, Any],
                                                            message: str) -> None:
    """The check has teeth: the same file with one bad redis entry fails with the loader's message."""
    broken = compose() | {"services": services() | {"redis": services()["redis"] | change}}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    proc = load(path)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_compose_loader_rejects_an_unset_variable_without_default(tmp_path: Path) -> None:
    unset = tmp_path / "unset.yml"
    unset.write_text("services:\n  x:\n    image: redis:${REDIS_TAG}\n")
    proc = load(unset)
    assert proc.returncode == 1 and "REDIS_TAG" in proc.stderr, proc.stderr


# --- house rules (PyYAML) ---------------------------------------------------------------------------
def _bind_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(str(volume["source"]))
        else:
            source = str(volume).split(":", 1)[0]
            if source.startswith((".", "/", "~")):  # otherwise a named volume
                sources.append(source)
    return sources


def test_every_bind_mounted_host_file_exists() -> None:
    checked = 0
    for name, service in services().items():
        for source in _bind_sources(service):
            path = (COMPOSE.parent / os.path.expanduser(source)).resolve()
            assert path.exists(), f"{name}: bind-mounted {source} does not exist"
            checked += 1
    assert checked >= 6  # collector configs, Prometheus config and rules, Alertmanager, Tempo, Grafana
    named = {str(v).split(":", 1)[0] for s in services().values() for v in s.get("volumes", [])
             if isinstance(v, str) and not str(v).startswith((".", "/", "~"))}
    assert named <= set(compose().get("volumes") or {}), f"named volumes not declared: {named}"


def test_every_image_is_pinned_to_a_version_tag() -> None:
    for name, service in services().items():
        image = service.get("image")
        assert image, f"{name}: no image (a built service still needs a tagged image name)"
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} is untagged"
        assert tag != "latest" and any(ch.isdigit() for ch in tag), f"{name}: {image} is not a version tag"


def test_every_service_has_a_healthcheck_and_a_memory_limit() -> None:
    for name, service in services().items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory"), f"{name}: no deploy.resources.limits.memory"
        if name in NO_HEALTHCHECK:
            published, why = NO_HEALTHCHECK[name]
            assert "healthcheck" not in service, f"{name}: {why}, yet a healthcheck is set"
            assert published in service["ports"], f"{name}: its health endpoint is published instead"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no healthcheck"


def _published(port: str | int | dict[str, Any]) -> tuple[int, int]:
    if isinstance(port, dict):
        return int(port["published"]), int(port["target"])
    parts = str(port).split("/")[0].split(":")
    return int(parts[-2]), int(parts[-1])  # [ip:]host:container


def test_standard_ports() -> None:
    assert set(services()) <= set(STANDARD_PORTS), "a new service: give it its standard port here"
    for name, ports in STANDARD_PORTS.items():
        published = {_published(p) for p in services()[name].get("ports", [])}
        assert published == {(p, p) for p in ports}, f"{name}: {sorted(published)}"


# --- the trace and log stores -----------------------------------------------------------------------
JAEGER_YAML = ROOT / "collector" / "jaeger" / "jaeger.yaml"
_ENV_REF = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-([^}]*))?\}")


def jaeger_config() -> dict[str, Any]:
    """collector/jaeger/jaeger.yaml as Jaeger reads it in the container: its ``${env:VAR:-default}``
    references filled from the jaeger service's environment, as the Collector's config resolver does."""
    env = {k: str(v) for k, v in services()["jaeger"]["environment"].items()}
    text = _ENV_REF.sub(lambda m: env.get(m[1], m[2] or ""), JAEGER_YAML.read_text())
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_the_collector_exports_to_jaeger_and_victorialogs_by_their_compose_names() -> None:
    """The agent sends logs to VictoriaLogs and traces to the gateways, which send them to Jaeger
    (collector/otelcol/compose-*.yaml, checked in test_compose_tiers.py)."""
    collector = services()["otel-collector"]["depends_on"]
    assert collector["victorialogs"] == {"condition": "service_started"}
    for gateway in ("otel-gateway-1", "otel-gateway-2"):
        assert collector[gateway] == {"condition": "service_started"}
        assert services()[gateway]["depends_on"]["jaeger"] == {"condition": "service_healthy"}
    assert services()["jaeger"]["image"] == "jaegertracing/jaeger:2.12.0"
    assert services()["victorialogs"]["image"] == "victoriametrics/victoria-logs:v1.52.2"


def test_jaeger_takes_otlp_on_4317_serves_queries_on_16686_and_bounds_its_memory() -> None:
    jaeger = services()["jaeger"]
    assert jaeger["volumes"] == ["./collector/jaeger/jaeger.yaml:/etc/jaeger/jaeger.yaml:ro"]
    assert jaeger["command"] == ["--config=/etc/jaeger/jaeger.yaml"]
    config = jaeger_config()
    otlp = config["receivers"]["otlp"]["protocols"]
    assert otlp["grpc"]["endpoint"] == "0.0.0.0:4317" and otlp["http"]["endpoint"] == "0.0.0.0:4318"
    assert _port(config["extensions"]["jaeger_query"]["http"]["endpoint"]) == 16686
    storage = config["extensions"]["jaeger_query"]["storage"]["traces"]
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == storage
    max_traces = config["extensions"]["jaeger_storage"]["backends"][storage]["memory"]["max_traces"]
    assert isinstance(max_traces, int) and 0 < max_traces <= 100_000
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == ["jaeger_storage_exporter"]
    assert set(config["service"]["extensions"]) == set(config["extensions"])
    # The healthcheck probes the healthcheckv2 extension where it listens.
    health = config["extensions"]["healthcheckv2"]["http"]["endpoint"]
    assert f"127.0.0.1:{_port(health)}/status" in " ".join(jaeger["healthcheck"]["test"])
    # The Monitor tab reads the span metrics in the compose Prometheus.
    metrics = config["extensions"]["jaeger_query"]["storage"]["metrics"]
    prometheus = config["extensions"]["jaeger_storage"]["metric_backends"][metrics]["prometheus"]
    assert prometheus["endpoint"] == "http://prometheus:9090" and prometheus["latency_unit"] == "s"


def test_victorialogs_keeps_its_logs_on_a_volume_for_a_bounded_time() -> None:
    victorialogs = services()["victorialogs"]
    flags = dict(f.lstrip("-").split("=", 1) for f in victorialogs["command"])
    assert _port(flags["httpListenAddr"]) == 9428
    assert re.fullmatch(r"\d+[hdwy]", flags["retentionPeriod"]), flags
    assert f"victorialogs-data:{flags['storageDataPath']}" in victorialogs["volumes"]


# --- Grafana provisioning ---------------------------------------------------------------------------
def grafana_expand(value: str, environ: dict[str, str]) -> str:
    """Grafana's interpolation of a provisioning value (pkg/services/provisioning/values): split on
    `$$` (a literal `$`), then Go's os.ExpandEnv on each part: $VAR or ${VAR}, unset is empty, and
    no `${VAR:-default}` (the whole `VAR:-default` would be the variable's name)."""
    def expand(part: str) -> str:
        return re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)",
                      lambda m: environ.get(m.group(1) if m.group(1) is not None else m.group(2), ""), part)
    return "$".join(expand(part) for part in value.split("$$"))


def _expand_all(node: Any, environ: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_all(v, environ) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_all(v, environ) for v in node]
    return grafana_expand(node, environ) if isinstance(node, str) else node


def datasources() -> dict[str, dict[str, Any]]:
    """The provisioned datasources by uid, with the values Grafana ends up with under compose."""
    environ = {str(k): str(v) for k, v in services()["grafana"]["environment"].items()}
    document = yaml.safe_load(GRAFANA_DATASOURCES.read_text())
    return {d["uid"]: _expand_all(d, environ) for d in document["datasources"]}


def test_grafana_datasources_have_their_fixed_uids_and_the_compose_urls() -> None:
    by_uid = datasources()
    assert {uid: d["type"] for uid, d in by_uid.items()} == {
        "prometheus": "prometheus", "jaeger": "jaeger", "victorialogs": "victoriametrics-logs-datasource",
        "tempo": "tempo", "alertmanager": "alertmanager"}
    assert {uid: d["url"] for uid, d in by_uid.items()} == {
        "prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686",
        "victorialogs": "http://victorialogs:9428", "tempo": "http://tempo:3200",
        "alertmanager": "http://alertmanager:9093"}
    assert not re.search(r"\$\{[^}]*:-", GRAFANA_DATASOURCES.read_text()), "Grafana has no ${VAR:-default}"


def test_every_datasource_uid_a_link_names_is_provisioned() -> None:
    by_uid = datasources()

    def named(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "datasourceUid"] + [u for v in node.values() for u in named(v)]
        return [u for v in node for u in named(v)] if isinstance(node, list) else []

    linked = named(list(by_uid.values()))
    assert linked and set(linked) <= set(by_uid), set(linked) - set(by_uid)


def test_grafana_links_an_exemplar_to_its_jaeger_trace_and_the_trace_to_its_logs_and_back() -> None:
    by_uid = datasources()
    # Prometheus panel point -> exemplar (the Collector's Prometheus exporter labels it trace_id) -> Jaeger
    destinations = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": "jaeger"}.items() <= destinations[0].items()
    assert {d["datasourceUid"] for d in destinations} == {"jaeger", "tempo"}
    # Jaeger span -> its trace's logs in VictoriaLogs: a LogsQL query on the trace_id field, with the
    # trace id Grafana fills in (the file writes $${...} so that Grafana's own interpolation leaves it).
    for uid in ("jaeger", "tempo"):
        to_logs = by_uid[uid]["jsonData"]["tracesToLogsV2"]
        assert to_logs["datasourceUid"] == "victorialogs" and to_logs["customQuery"] is True
        assert to_logs["query"] == 'trace_id:="${__trace.traceId}"'
    # VictoriaLogs log line -> its trace_id field -> the trace in Jaeger
    [derived] = by_uid["victorialogs"]["jsonData"]["derivedFields"]
    assert derived["matcherType"] == "label" and derived["matcherRegex"] == "trace_id"
    assert derived["datasourceUid"] == "jaeger" and derived["url"] == "${__value.raw}"


def test_grafana_installs_the_victorialogs_plugin_pinned_and_supports_trace_to_logs_into_it() -> None:
    grafana = services()["grafana"]
    plugins = str(grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]).split(",")
    assert [p for p in plugins if re.fullmatch(r"victoriametrics-logs-datasource@\d+\.\d+\.\d+", p)], plugins
    # Trace to logs into a VictoriaLogs datasource needs Grafana 12.2 or later.
    major, minor = (int(x) for x in grafana["image"].rpartition(":")[2].split(".")[:2])
    assert (major, minor) >= (12, 2), grafana["image"]
    assert {"jaeger", "victorialogs"} <= set(grafana["depends_on"])
