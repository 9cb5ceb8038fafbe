"""Every Collector configuration the repo ships, as its users start it, passes the built Collector's
own `validate` (components exist in the build, pipelines are wired, every exporter is used): the local
stack (base + local, and + traces-file when TRACES_FILE is set) and compose (base + compose, which runs
in the contrib image; our build has the same components)."""

from __future__ import annotations

import subprocess

import pytest

from .stack import REPO_ROOT, SCRIPTS, SETUP_TIMEOUT

pytestmark = [pytest.mark.pipeline, pytest.mark.timeout(SETUP_TIMEOUT + 60)]

CONFIGS = REPO_ROOT / "collector" / "otelcol"


@pytest.mark.parametrize("overlays", [("local.yaml",), ("local.yaml", "traces-file.yaml"), ("compose.yaml",)])
def test_shipped_config_validates(overlays: tuple[str, ...]) -> None:
    binary = subprocess.run([str(SCRIPTS / "build-collector.sh")], capture_output=True, text=True, check=True,
                            timeout=SETUP_TIMEOUT).stdout.strip().splitlines()[-1]
    args = [f"--config={CONFIGS / name}" for name in ("base.yaml", *overlays)]
    done = subprocess.run([binary, "validate", *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TRACES_FILE": "/tmp/traces.json", "RUN_DIR": "/tmp"})
    assert done.returncode == 0, done.stderr
