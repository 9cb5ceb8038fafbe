"""The checked-in Prometheus rules and Grafana dashboards are what the KPI catalog generates."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from app.monitoring import dashboards, rules
from app.monitoring.kpis import build_catalog

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "collector/prometheus/rules/kpi-alerts.yml"
DASHBOARDS = ROOT / "collector/grafana/dashboards"
REGENERATE = "regenerate with `make generate`"


def test_rules_file_matches_the_catalog() -> None:
    assert RULES.read_text() == rules.render(), REGENERATE


def test_every_kpi_has_a_rule_with_its_threshold_and_severity() -> None:
    document = rules.rules_document()
    by_name = {r["alert"]: r for g in document["groups"] for r in g["rules"]}
    for kpi in build_catalog():
        assert by_name[kpi.name]["labels"]["severity"] == kpi.severity
        assert f"{kpi.threshold:g}" in by_name[kpi.name]["expr"]


@pytest.mark.parametrize("uid", list(dashboards.DASHBOARDS))
def test_dashboard_files_match_the_generator(uid: str) -> None:
    assert (DASHBOARDS / f"{uid}.json").read_text() == dashboards.render(uid), REGENERATE


def test_kpi_thresholds_are_drawn_on_their_panels() -> None:
    kpis = {k.name: k for k in build_catalog()}
    drawn = 0
    for uid in dashboards.DASHBOARDS:
        for panel_def, panel in zip(dashboards.DASHBOARDS[uid][1], json.loads(dashboards.render(uid))["panels"],
                                    strict=True):
            if panel_def.kpi:
                values = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
                assert kpis[panel_def.kpi].threshold in values
                drawn += 1
    assert drawn >= 8


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) not installed")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) not installed")
    tests = ROOT / "collector/prometheus/tests/kpi-alerts.test.yml"
    done = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
