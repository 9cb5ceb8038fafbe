"""The checked-in Prometheus rules and Grafana dashboards are what the KPI catalog generates."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

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


@pytest.mark.parametrize("uid", list(dashboards.DASHBOARDS))
def test_dashboard_json_is_what_grafana_loads(uid: str) -> None:
    """The provisioned file, read as Grafana reads it: a dashboard (uid = file name, schemaVersion),
    panels of a known type on the grid with the Prometheus datasource by its provisioned uid, and
    targets that carry a refId and a PromQL expr (exemplars on the time series)."""
    document = json.loads((DASHBOARDS / f"{uid}.json").read_text())
    assert document["uid"] == uid and document["title"] == dashboards.DASHBOARDS[uid][0]
    assert isinstance(document["schemaVersion"], int) and document["schemaVersion"] >= 36
    assert document["annotations"] == {"list": []} and document["templating"] == {"list": []}
    declared = dashboards.DASHBOARDS[uid][1]
    panels = document["panels"]
    assert [p["title"] for p in panels] == [p.title for p in declared]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel_def, panel in zip(declared, panels, strict=True):
        assert panel["type"] == panel_def.kind in {"timeseries", "stat", "state-timeline"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        assert isinstance(panel["options"], dict) and None not in panel["options"].values(), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        cells.add((grid["x"], grid["y"]))
        assert panel["fieldConfig"]["defaults"]["unit"] == panel_def.unit
        targets = panel["targets"]
        assert [(t["expr"], t["legendFormat"]) for t in targets] == list(panel_def.exprs)
        assert [t["refId"] for t in targets] == [chr(ord("A") + i) for i in range(len(targets))]
        for target in targets:
            assert target["datasource"]["uid"] == "prometheus" and target["expr"].strip()
            assert target["exemplar"] is (panel_def.kind == "timeseries")
    assert len(cells) == len(panels), "panels overlap"


@pytest.mark.parametrize("uid", list(dashboards.DASHBOARDS))
def test_the_sdk_reads_the_checked_in_dashboard_back(uid: str) -> None:
    """The Foundation SDK's own decoder (its models are Grafana's dashboard schema) reads the file
    into the same dashboard: no field it does not know, none it would fill in differently."""
    register_default_plugins()
    text = (DASHBOARDS / f"{uid}.json").read_text()
    model = DashboardModel.from_json(json.loads(text))
    assert JSONEncoder(sort_keys=True, indent=2).encode(model) + "\n" == text


def test_queries_lists_every_target_of_every_panel() -> None:
    listed = dashboards.queries()
    targets = [(uid, p["title"], t["expr"]) for uid in dashboards.DASHBOARDS
               for p in dashboards.dashboard_json(uid)["panels"] for t in p["targets"]]
    assert listed == targets and len(listed) >= 25


def test_kpi_thresholds_are_drawn_on_their_panels() -> None:
    kpis = {k.name: k for k in build_catalog()}
    drawn = 0
    for uid in dashboards.DASHBOARDS:
        for panel_def, panel in zip(dashboards.DASHBOARDS[uid][1], json.loads(dashboards.render(uid))["panels"],
                                    strict=True):
            if panel_def.kpi:
                values = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
                assert kpis[panel_def.kpi].threshold in values
                if panel_def.kind == "timeseries":  # drawn as a line (and area), not only a colour
                    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line+area"
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
