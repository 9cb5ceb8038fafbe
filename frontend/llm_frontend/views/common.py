"""What every page shares: the client (one per process), the last trace id and the sidebar."""

from __future__ import annotations

import streamlit as st

from ..backend import Action, BackendClient
from ..grafana import DASHBOARDS, dashboard_url, explore_trace_url
from ..settings import FrontendSettings
from ..telemetry import build_tracer_provider


@st.cache_resource
def settings() -> FrontendSettings:
    return FrontendSettings.from_env()


@st.cache_resource
def client() -> BackendClient:
    """One client and one TracerProvider per process, shared by all sessions (httpx.Client is
    thread-safe); the provider flushes its spans at interpreter exit."""
    return BackendClient(settings(), build_tracer_provider())


def remember(act: Action, what: str) -> None:
    """Keep the trace id of the last request, for the page and the Grafana Explore link."""
    st.session_state["last_trace"] = {"trace_id": act.trace_id, "what": what}


def sidebar() -> None:
    cfg = settings()
    with st.sidebar:
        st.caption(f"Backend: {cfg.backend_url}")
        last = st.session_state.get("last_trace")
        with st.container(key="last-trace"):
            if last:
                st.markdown(f"**Trace of the last request** ({last['what']})")
                st.code(last["trace_id"], language=None, wrap_lines=True)
                if cfg.grafana_url:
                    st.link_button("Open the trace in Grafana", explore_trace_url(cfg.grafana_url, last["trace_id"]))
            else:
                st.caption("No request yet: its trace id shows here.")
        if cfg.grafana_url:
            st.markdown("**Grafana dashboards**")
            for uid, title in DASHBOARDS.items():
                st.markdown(f"- [{title}]({dashboard_url(cfg.grafana_url, uid)})")
