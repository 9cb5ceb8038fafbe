"""Entry point: ``streamlit run frontend/app.py`` (scripts/frontend.sh does it, headless, on :8501)."""

from __future__ import annotations

import streamlit as st
from llm_frontend.views import common, operations, process

st.set_page_config(page_title="LLM text processing", layout="wide")
nav = st.navigation([
    st.Page(process.page, title="Text processing", url_path="process", default=True),
    st.Page(operations.page, title="Operations", url_path="operations"),
])
nav.run()
common.sidebar()  # after the page: it shows the trace of a request the page just made
