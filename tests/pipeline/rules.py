"""The KPI alert rules as the pipeline tests load them: a copy of collector/prometheus/rules/kpi-alerts.yml
with every `for:` set to 0s and the group interval 5s (the exprs identical, asserted), loaded into a
test stack's Prometheus; and which alerts Prometheus has firing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from .stack import REPO_ROOT, Stack, poll, prom_api

RULES_FILE = REPO_ROOT / "collector" / "prometheus" / "rules" / "kpi-alerts.yml"


def fast_rules_copy(directory: Path) -> Path:
    """kpi-alerts.yml with `for: 0s` and a 5 s group interval; exprs, labels, annotations unchanged."""
    rules = yaml.safe_load(RULES_FILE.read_text())
    for group in rules["groups"]:
        group["interval"] = "5s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / RULES_FILE.name
    copy.write_text(yaml.safe_dump(rules, sort_keys=False, width=1000))
    original = [(r["alert"], r["expr"]) for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]
    copied = [(r["alert"], r["expr"]) for g in yaml.safe_load(copy.read_text())["groups"] for r in g["rules"]]
    assert copied == original
    subprocess.run(["promtool", "check", "rules", str(copy)], check=True, capture_output=True, timeout=60)
    return copy


def load_rules(stack: Stack, copy: Path) -> None:
    """Point the config prometheus.sh rendered at the copy, and reload (--web.enable-lifecycle)."""
    config = stack.run_dir / "prometheus" / "prometheus.yml"
    text, count = re.subn(r"(?m)^(\s*-\s*).*/rules/\*\.yml\s*$", rf"\g<1>{copy.parent}/*.yml", config.read_text())
    assert count == 1, text
    config.write_text(text)
    httpx.post(f"{stack.prometheus}/-/reload", timeout=30).raise_for_status()

    def loaded() -> list[dict[str, Any]]:
        groups = prom_api(stack.prometheus, "rules")["groups"]
        return groups if groups and all(g["file"] == str(copy) and g["interval"] == 5 for g in groups) else []

    groups = poll(loaded, f"Prometheus to load {copy}", timeout=30)
    assert all(r["duration"] == 0 for g in groups for r in g["rules"])


def prometheus_firing(stack: Stack) -> set[str]:
    return {a["labels"]["alertname"] for a in prom_api(stack.prometheus, "alerts")["alerts"] if a["state"] == "firing"}
