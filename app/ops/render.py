"""Reports as text for a terminal or a cron mail, and as JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from app.ops.checks import Report

TAGS = {"ok": "[ OK ]", "info": "[INFO]", "skipped": "[SKIP]", "warning": "[WARN]", "critical": "[CRIT]"}
TITLES = {"daily": "Daily health check", "weekly": "Weekly operations review", "monitor": "System monitor",
          "baseline": "Performance baseline"}


def text(report: Report) -> str:
    lines = [f"=== {TITLES.get(report.command, report.command)} {report.timestamp} ({report.url}) ==="]
    if report.unreachable is not None:
        lines.append(f"[DOWN] service unreachable: {report.unreachable}")
    lines += [f"{TAGS[c.level]} {c.name}: {c.message}" for c in report.checks]
    lines.append(f"=== Result: {report.verdict} (exit {report.exit_code}) ===")
    return "\n".join(lines)


def monitor_line(report: Report) -> str:
    """One line per round while healthy, the alerts under it when not (as monitor_system.sh prints)."""
    if report.unreachable is not None:
        return f"{report.timestamp}: service unreachable: {report.unreachable}"
    status = report.data.get("overall_status")
    line = f"{report.timestamp}: System status is {status}"
    problems = [f"  {TAGS[c.level]} {c.name}: {c.message}" for c in report.checks if c.level in ("warning", "critical")]
    return "\n".join([line, *problems]) if status != "healthy" else line


def as_json(report: Report, compact: bool = False) -> str:
    data: dict[str, Any] = report.as_dict()
    return json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2)
