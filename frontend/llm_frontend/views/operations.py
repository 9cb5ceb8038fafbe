"""Operations: overall status, active alerts, KPIs against their thresholds, circuit breakers (reset with
confirmation) and maintenance mode; links into Grafana when ``GRAFANA_URL`` is set.

One page view is one user action (``frontend.load_operations``): its five GETs share one trace. The
sidebar's "last request" is the last thing the user did (a reset, a maintenance switch, a submit), not
the page's own reloads.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ..backend import ALERTS, BREAKERS, HEALTH, MAINTENANCE, PERFORMANCE, BackendProblem, BackendUnavailable
from ..grafana import DASHBOARDS, dashboard_url
from . import common

STATUS_COLORS = {"healthy": "green", "degraded": "orange", "unhealthy": "red"}
SEVERITIES = ("critical", "warning", "info")


def _load() -> tuple[dict[str, Any], dict[str, str]]:
    """Each section's answer, or its error; an unreachable backend stops at the first call."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    with common.client().action("frontend.load_operations") as act:
        for name, path in (("health", HEALTH), ("alerts", ALERTS), ("performance", PERFORMANCE),
                           ("breakers", BREAKERS), ("maintenance", MAINTENANCE)):
            try:
                data[name] = act.get(path)
            except BackendUnavailable as exc:
                errors["backend"] = str(exc)
                break
            except BackendProblem as exc:
                errors[name] = str(exc)
        if errors:
            act.set_attribute("error.type", "partial" if "backend" not in errors else "BackendUnavailable")
    return data, errors


def _run_action(name: str, path: str, what: str, **attributes: str) -> None:
    """A POST as its own traced action; the outcome is shown on the next run."""
    act = None
    try:
        with common.client().action(name, **attributes) as act:
            answer = act.post(path)
        st.session_state["ops_flash"] = ("success", str(answer.get("message", f"{what}: done")))
    except BackendProblem as exc:
        st.session_state["ops_flash"] = ("error", f"{what} failed: {exc}")
    if act is not None:
        common.remember(act, what)


def _status(health: dict[str, Any]) -> None:
    overall = str(health.get("overall_status", "unknown"))
    with st.container(key="overall-status"):
        st.markdown(f"### Overall status: :{STATUS_COLORS.get(overall, 'gray')}[{overall}]")
    components = health.get("components") or {}
    if components:
        rows = [{"component": name, "status": str(c.get("status", "")), "message": str(c.get("message", ""))}
                for name, c in components.items() if isinstance(c, dict)]
        st.table(rows, hide_index=True)


def _alerts(alerts: dict[str, Any]) -> None:
    st.subheader("Active alerts")
    counts = alerts.get("by_severity") or {}
    cols = st.columns(len(SEVERITIES))
    for col, severity in zip(cols, SEVERITIES, strict=True):
        col.metric(severity.capitalize(), int(counts.get(severity, 0)))
    active = alerts.get("alerts") or []
    with st.container(key="active-alerts"):
        if not active:
            st.caption("No active alerts.")
            return
        order = {s: i for i, s in enumerate(SEVERITIES)}
        rows = [{"severity": a.get("severity"), "alert": a.get("name"), "message": a.get("message"),
                 "respond within": a.get("response_time")}
                for a in sorted(active, key=lambda a: order.get(str(a.get("severity")), 99))]
        st.table(rows, hide_index=True)


KPI_STATUS = {"pass": "pass", "fail": "BREACHED", "insufficient_data": "too few samples yet"}


def _kpis(performance: dict[str, Any]) -> None:
    st.subheader("KPIs against their thresholds")
    rows = []
    for k in performance.get("kpis") or []:
        value, unit = k.get("value"), str(k.get("unit", ""))
        threshold = k.get("threshold")
        # words, not "<" / ">": table cells are Markdown, where ">" starts a quote
        relation = "above" if k.get("op") == ">" else "below"
        rows.append({"KPI": str(k.get("title", k.get("name"))),
                     "value": f"{value:g} {unit}" if isinstance(value, int | float) else "—",
                     "alert when": f"{relation} {threshold:g} {unit}" if isinstance(threshold, int | float) else "—",
                     "status": KPI_STATUS.get(str(k.get("status")), str(k.get("status"))),
                     "severity": str(k.get("severity", ""))})
    with st.container(key="kpis"):
        if rows:
            st.table(rows, hide_index=True)
        else:
            st.caption("No KPI measured yet.")


def _breakers(breakers: dict[str, Any]) -> None:
    st.subheader("Circuit breakers")
    rows = [{"breaker": name, "state": str(b.get("state")),
             "consecutive failures": str(b.get("consecutive_failures", 0)),
             "half-open in": f"{float(b.get('retry_after_seconds') or 0):.0f} s" if b.get("state") == "open" else "—"}
            for name, b in breakers.items() if isinstance(b, dict)]
    with st.container(key="breakers"):
        st.table(rows, hide_index=True)
    pending = st.session_state.get("pending_reset")
    if pending:
        with st.container(key="confirm-reset", border=True):
            st.warning(f"Reset circuit breaker **{pending}**? Calls go to the AI provider again at once"
                       + (", and the operation breakers its outage opened are closed too." if pending == "ai_service"
                          else "."))
            yes, no = st.columns(2)
            if yes.button(f"Yes, reset {pending}", key="confirm-reset-yes", type="primary"):
                st.session_state.pop("pending_reset", None)
                _run_action("frontend.reset_circuit_breaker", f"{BREAKERS}/{pending}/reset",
                            f"reset of {pending}", circuit_breaker=pending)
                st.rerun()
            if no.button("Cancel", key="confirm-reset-no"):
                st.session_state.pop("pending_reset", None)
                st.rerun()
        return
    with st.container(key="reset-buttons", horizontal=True):
        for name, b in breakers.items():
            if st.button(f"Reset {name}", key=f"reset-{name}", type="primary" if b.get("state") != "closed"
                         else "secondary"):
                st.session_state["pending_reset"] = name
                st.rerun()


def _maintenance(state: dict[str, Any]) -> None:
    st.subheader("Maintenance mode")
    enabled = bool(state.get("enabled"))
    with st.container(key="maintenance"):
        if enabled:
            until = state.get("until") or "disabled"
            st.markdown(f"Maintenance mode is **on** since {state.get('started_at')} (until {until}): "
                        f"alert notifications are silenced. Reason: {state.get('reason') or '—'}")
        else:
            st.markdown("Maintenance mode is **off**: alert notifications are sent.")
    if enabled and st.button("Disable maintenance mode", key="maintenance-disable"):
        _run_action("frontend.set_maintenance_mode", f"{MAINTENANCE}/disable", "disable maintenance mode",
                    maintenance="disable")
        st.rerun()
    if not enabled and st.button("Enable maintenance mode", key="maintenance-enable"):
        _run_action("frontend.set_maintenance_mode", f"{MAINTENANCE}/enable", "enable maintenance mode",
                    maintenance="enable")
        st.rerun()


def page() -> None:
    st.title("Operations")
    grafana = common.settings().grafana_url
    top = st.columns([1, 3])
    top[0].button("Refresh", key="ops-refresh")  # any click reruns the page, which reloads
    if grafana:
        with top[1].container(key="grafana-links", horizontal=True):
            for uid, title in DASHBOARDS.items():
                st.link_button(f"Grafana: {title}", dashboard_url(grafana, uid))

    flash = st.session_state.pop("ops_flash", None)
    if flash:
        with st.container(key="ops-flash"):
            (st.success if flash[0] == "success" else st.error)(flash[1])

    data, errors = _load()
    if "backend" in errors:
        with st.container(key="ops-error"):
            st.error(errors["backend"])
        return
    for section, message in errors.items():
        st.error(f"{section}: {message}")
    if "health" in data:
        _status(data["health"])
    if "alerts" in data:
        _alerts(data["alerts"])
    if "performance" in data:
        _kpis(data["performance"])
    if "breakers" in data:
        _breakers(data["breakers"])
    if "maintenance" in data:
        _maintenance(data["maintenance"])
