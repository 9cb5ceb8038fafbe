"""Links into Grafana: the provisioned dashboards (fixed uids) and Explore on the Tempo datasource."""

from __future__ import annotations

import json
from urllib.parse import quote

DASHBOARDS: dict[str, str] = {
    "llm-system-health": "System health",
    "llm-performance": "Performance",
    "llm-infrastructure": "Infrastructure",
}
TEMPO_UID = "tempo"  # collector/grafana/provisioning/datasources/datasources.yml


def dashboard_url(grafana_url: str, uid: str) -> str:
    return f"{grafana_url}/d/{quote(uid)}"


def explore_trace_url(grafana_url: str, trace_id: str) -> str:
    """Grafana Explore showing one trace from Tempo."""
    panes = {"trace": {
        "datasource": TEMPO_UID,
        "queries": [{"refId": "A", "datasource": {"type": "tempo", "uid": TEMPO_UID},
                     "queryType": "traceql", "query": trace_id}],
        "range": {"from": "now-1h", "to": "now"},
    }}
    return f"{grafana_url}/explore?schemaVersion=1&orgId=1&panes={quote(json.dumps(panes, separators=(',', ':')))}"
