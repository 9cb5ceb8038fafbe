"""The gateway Collector's tail-sampling policies, generated from the KPI catalog, so the traces kept
as "slow" are the ones the P95 latency alert calls slow. ``python -m app.monitoring.sampling`` prints
the overlay that is checked in as ``collector/otelcol/gateway-policies.yaml``;
tests/pipeline/test_collector_configs.py fails when the two disagree.

A trace is kept when ANY policy keeps it: every trace with an error span, every trace longer than the
threshold (first span start to last span end, which for a request is its server span), and
``TAIL_SAMPLING_PERCENTAGE`` percent of the rest (10 unless set; read by the Collector at start).
"""

from __future__ import annotations

import sys

from app.monitoring.kpis import KPI, build_catalog

# The KPI whose threshold separates slow traces from the rest.
SLOW_KPI = "ApiLatencyP95High"

TEMPLATE = """\
# Generated from app/monitoring/kpis.py by `python -m app.monitoring.sampling`; do not edit by hand.
# tests/pipeline/test_collector_configs.py fails when this file and the catalog disagree.
#
# The gateway's tail-sampling policies (loaded after gateway.yaml). A trace is kept when ANY policy
# keeps it. The list is restated whole by any overlay that changes it.
processors:
  tail_sampling:
    policies:
      - name: errors
        type: status_code
        status_code: {{status_codes: [ERROR]}}
      # {title} KPI ({name}): {threshold:g} {unit}. The processor keeps durations strictly above it,
      # as the alert fires strictly above it.
      - name: slower-than-p95-kpi
        type: latency
        latency: {{threshold_ms: {threshold_ms}}}
      - name: share-of-the-rest
        type: probabilistic
        probabilistic:
          # Block style: the env reference's braces would end a flow mapping.
          sampling_percentage: ${{env:TAIL_SAMPLING_PERCENTAGE:-10}}
"""


def slow_kpi(catalog: tuple[KPI, ...] | None = None) -> KPI:
    kpi = next(k for k in catalog or build_catalog() if k.name == SLOW_KPI)
    # The latency policy keeps traces longer than a whole number of milliseconds.
    if kpi.unit != "ms" or kpi.op != ">" or kpi.threshold != int(kpi.threshold):
        raise ValueError(f"{SLOW_KPI} must be a '> N ms' threshold, not {kpi.op} {kpi.threshold} {kpi.unit}")
    return kpi


def render(catalog: tuple[KPI, ...] | None = None) -> str:
    kpi = slow_kpi(catalog)
    return TEMPLATE.format(title=kpi.title, name=kpi.name, threshold=kpi.threshold, unit=kpi.unit,
                           threshold_ms=int(kpi.threshold))


if __name__ == "__main__":
    sys.stdout.write(render())
