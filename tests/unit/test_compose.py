"""docker-compose.yml, checked without Docker.

- As a compose tool reads it: tools/composecheck (the official Compose loader, compose-spec/compose-go,
  which `docker compose` itself uses) loads it with interpolation, schema validation, normalization and
  consistency checks. Skipped, with the reason, when Go is missing and no binary is cached.
- House rules (PyYAML, always): every bind-mounted host file exists, every image is pinned to a version
  tag, every service has a healthcheck and a memory limit (the Collector has no healthcheck: see below),
  and the standard ports are published as themselves.
"""

from __future__ import annotations

import json
import os
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
    "prometheus": {9090},
    "alertmanager": {9093},
    "pushgateway": {9091},
    "tempo": {3200},
    "grafana": {3000},
    "frontend": {8501},
}
# otel/opentelemetry-collector-contrib is built FROM scratch: no shell, no wget/curl, so Docker has
# nothing to run a probe with inside the container. Its health is the health_check extension on
# :13133 (published, probed from outside) and Prometheus' `up` for its two scrape jobs.
NO_HEALTHCHECK = {"otel-collector": "scratch image: no shell or HTTP client to probe with"}


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
            assert "healthcheck" not in service, f"{name}: {NO_HEALTHCHECK[name]}, yet a healthcheck is set"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
    # The Collector's own health endpoint is published instead (see NO_HEALTHCHECK).
    assert "13133:13133" in services()["otel-collector"]["ports"]


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
