"""Component health and the overall verdict: the worst component wins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

Status = Literal["healthy", "degraded", "unhealthy"]
_RANK: dict[str, int] = {"healthy": 0, "disabled": 0, "degraded": 1, "unhealthy": 2}


def worst(statuses: Iterable[str]) -> Status:
    rank = max((_RANK.get(s, 1) for s in statuses), default=0)
    return ("healthy", "degraded", "unhealthy")[rank]


def overall(components: Mapping[str, Mapping[str, Any]], critical_alerts: int) -> Status:
    status = worst(c["status"] for c in components.values())
    if critical_alerts and status == "healthy":
        return "degraded"
    return status


def redis_health(status: Mapping[str, Any], latency_ms: float | None, enabled: bool) -> dict[str, Any]:
    if not enabled:
        return {"status": "disabled", "message": "Redis disabled by configuration; memory tier only"}
    if latency_ms is None:
        return {"status": "degraded", "connected": False, "url": status.get("url"),
                "message": "Redis unreachable; the memory tier serves the cache",
                "last_error": status.get("last_error"), "failures": status.get("failures", 0)}
    # Health is reachability. Speed is the RedisLatencyHigh KPI, judged on the P95 of every command:
    # one PING under load also measures the event loop's queue, and would make health flap.
    slow = latency_ms > 10.0
    return {"status": "healthy", "connected": True, "url": status.get("url"),
            "latency_ms": round(latency_ms, 3), "within_kpi": not slow,
            "message": "Redis reachable" + (", this PING slower than the 10 ms KPI" if slow else "")}


def breakers_health(states: Mapping[str, str]) -> dict[str, Any]:
    open_ = sorted(n for n, s in states.items() if s == "open")
    half = sorted(n for n, s in states.items() if s == "half_open")
    status: Status = "unhealthy" if "ai_service" in open_ else ("degraded" if open_ or half else "healthy")
    return {"status": status, "open": open_, "half_open": half, "total": len(states),
            "message": f"{len(open_)} open, {len(half)} half-open of {len(states)} breakers"}


def telemetry_health(exports: list[dict[str, Any]], history_snapshots: int,
                     history_error: str | None) -> dict[str, Any]:
    if not exports:
        export_status = "disabled"
    elif any(e["healthy"] is False for e in exports):
        export_status = "degraded"
    else:
        export_status = "healthy"
    status = worst([export_status, "degraded" if history_error else "healthy"])
    return {"status": status if exports else ("degraded" if history_error else "healthy"),
            "otlp_export": export_status, "exporters": exports,
            "history_snapshots": history_snapshots, "history_error": history_error}
