"""The one KPI catalog: the guide's thresholds, severities, response times, and their PromQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from app.monitoring.kpis import KPI, SEVERITIES, build_catalog
from app.monitoring.measurements import Measurements

CATALOG = build_catalog()
# The guide's "Alert Severity Levels" table.
GUIDE_RESPONSE_TIMES = {"critical": "< 15 minutes", "warning": "< 1 hour", "info": "< 4 hours"}


def by_name(name: str) -> KPI:
    return next(k for k in CATALOG if k.name == name)


@pytest.mark.parametrize("kpi", CATALOG, ids=lambda k: k.name)
def test_every_kpi_is_complete(kpi: KPI) -> None:
    assert kpi.severity in ("critical", "warning", "info")
    assert kpi.severity in SEVERITIES
    assert kpi.response_time == GUIDE_RESPONSE_TIMES[kpi.severity]
    measured = {f.name for f in fields(Measurements)} | {"open_breaker_count", "ai_spend_usd_per_hour"}
    assert kpi.field in measured, f"{kpi.field} is not something measure() produces"
    if kpi.min_field is not None:
        assert kpi.min_field in measured
        assert kpi.min_samples > 0


@pytest.mark.parametrize("kpi", CATALOG, ids=lambda k: k.name)
def test_promql_carries_the_threshold_and_the_same_comparison(kpi: KPI) -> None:
    expr = kpi.expr()
    assert "{threshold}" not in expr
    comparisons = re.findall(r"(<|>)\s*([0-9][0-9.e+]*)", expr)
    assert (kpi.op, float(kpi.threshold)) in {(op, float(n)) for op, n in comparisons}, expr
    if kpi.min_field is not None:  # Prometheus, like the in-process engine, needs enough samples
        assert (">=", float(kpi.min_samples)) in {
            (op, float(n)) for op, n in re.findall(r"(>=)\s*([0-9][0-9.e+]*)", expr)}, expr


def test_the_guide_kpis_are_all_there() -> None:
    guide = {  # field: (comparison, threshold) from the guide's KPI list
        "p95_response_time": (">", 2000), "p99_response_time": (">", 5000), "error_rate": (">", 1.0),
        "hit_ratio": ("<", 70.0), "memory_usage_percent": (">", 80.0), "redis_p95_ms": (">", 10.0),
        "ai_p95_ms": (">", 30000.0), "open_breaker_count": (">", 0), "config_load_ms": (">", 100.0),
    }
    have = {(k.field, k.op, float(k.threshold)) for k in CATALOG}
    for field_name, (op, threshold) in guide.items():
        assert (field_name, op, float(threshold)) in have, field_name


def test_cache_memory_thresholds_follow_the_settings() -> None:
    catalog = build_catalog(cache_memory_warning_mb=20.0, cache_memory_critical_mb=40.0)
    kpis = {k.name: k for k in catalog}
    assert kpis["CacheMemoryWarning"].threshold == 20.0
    assert kpis["CacheMemoryCritical"].threshold == 40.0
    assert re.search(r"> 40(\.0)?\b", kpis["CacheMemoryCritical"].expr())
    assert kpis["CacheMemoryCritical"].severity == "critical"


def test_breached_compares_in_the_right_direction() -> None:
    p95, hit = by_name("ApiLatencyP95High"), by_name("CacheHitRatioLow")
    assert p95.breached(2000.1) and not p95.breached(2000.0)
    assert hit.breached(69.9) and not hit.breached(70.0)
    assert by_name("CircuitBreakerOpen").breached(1) and not by_name("CircuitBreakerOpen").breached(0)


def test_names_are_unique() -> None:
    assert len({k.name for k in CATALOG}) == len(CATALOG)


def test_promql_is_valid_for_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found (Debian package 'prometheus')")
    rules = {"groups": [{"name": "kpis", "rules": [
        {"alert": k.name, "expr": k.expr(), "for": "1m",
         "labels": {"severity": k.severity}, "annotations": {"summary": k.title}} for k in CATALOG]}]}
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
