"""Every Collector configuration the repo ships, as its users start it, passes the built Collector's
own `validate` (components exist in the build, pipelines are wired, every exporter is used): the local
stack (base + local, and + traces-file when TRACES_FILE is set) and compose (base + compose, which runs
in the contrib image; our build has the same components). Jaeger v2 is a Collector too: its one config
validates with the local stack's environment and with compose's."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from .stack import REPO_ROOT, SCRIPTS, SETUP_TIMEOUT

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 60)]

CONFIGS = REPO_ROOT / "collector" / "otelcol"


@pytest.mark.parametrize("overlays", [("local.yaml",), ("local.yaml", "traces-file.yaml"), ("compose.yaml",)])
def test_shipped_config_validates(overlays: tuple[str, ...]) -> None:
    args = [f"--config={CONFIGS / name}" for name in ("base.yaml", *overlays)]
    validate(built("build-collector.sh"), args, {"TRACES_FILE": "/tmp/traces.json", "RUN_DIR": "/tmp"})


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
