"""Prometheus alerting rules generated from the KPI catalog, so Prometheus and the in-process alert
engine judge the same thresholds. ``python -m app.monitoring.rules`` prints the rules file that is
checked in as ``collector/prometheus/rules/kpi-alerts.yml``; a test fails when the two disagree."""

from __future__ import annotations

import sys
from typing import Any

import yaml

from app.monitoring.kpis import ESCALATION, KPI, RESPONSE_TIME, build_catalog

# How long a breach must last before Prometheus fires: short for critical, longer for the rest.
FOR: dict[str, str] = {"critical": "1m", "warning": "5m", "info": "10m"}
HEADER = ("# Generated from app/monitoring/kpis.py by `python -m app.monitoring.rules`; do not edit by hand.\n"
          "# tests/unit/test_rules.py fails when this file and the catalog disagree.\n")


def rule(kpi: KPI) -> dict[str, Any]:
    relation = "above" if kpi.op == ">" else "below"
    return {
        "alert": kpi.name,
        "expr": kpi.expr(),
        "for": FOR[kpi.severity],
        "labels": {"severity": kpi.severity, "source": kpi.source, "kpi": kpi.field},
        "annotations": {
            "summary": f"{kpi.title} {relation} {kpi.threshold:g} {kpi.unit}",
            "description": f"{kpi.title} is {{{{ $value | printf \"%.2f\" }}}} {kpi.unit}, "
                           f"{relation} the KPI threshold of {kpi.threshold:g} {kpi.unit}.",
            "response_time": RESPONSE_TIME[kpi.severity],
            "escalation": ESCALATION[kpi.severity],
        },
    }


def rules_document(catalog: tuple[KPI, ...] | None = None) -> dict[str, Any]:
    kpis = catalog or build_catalog()
    return {"groups": [{"name": "llm-service-kpis", "interval": "15s", "rules": [rule(k) for k in kpis]}]}


def render() -> str:
    return HEADER + yaml.safe_dump(rules_document(), sort_keys=False, width=100_000)


if __name__ == "__main__":
    sys.stdout.write(render())
