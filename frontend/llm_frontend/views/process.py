"""Text processing: pick an operation, paste text, see the result, where it came from and how long it took.

The inputs are widgets whose state lives in ``st.session_state`` for the whole session
(``persist_state="session"``): a failed submit, a rerun or a visit to the other page loses nothing typed.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ..backend import OPERATIONS, PROCESS, BackendError, BackendProblem
from . import common

# Shown when the backend cannot list its operations, so the form stays usable (and a submit explains why
# the backend is away); the ids are the API's.
FALLBACK_OPERATIONS: list[dict[str, Any]] = [
    {"id": "summarize", "name": "Summarize", "requires_question": False},
    {"id": "sentiment", "name": "Sentiment", "requires_question": False},
    {"id": "key_points", "name": "Key points", "requires_question": False},
    {"id": "questions", "name": "Questions", "requires_question": False},
    {"id": "qa", "name": "Question answering", "requires_question": True},
]


def _operations() -> tuple[list[dict[str, Any]], str | None]:
    """The backend's operations (kept for the session once read), or the fallback and why."""
    if "operations" in st.session_state:
        return st.session_state["operations"], None
    try:
        with common.client().action("frontend.list_operations") as act:
            ops = list(act.get(OPERATIONS)["operations"])
    except BackendProblem as exc:
        return FALLBACK_OPERATIONS, str(exc)
    st.session_state["operations"] = ops
    return ops, None


def _submit(operation: str, text: str, question: str) -> None:
    body: dict[str, Any] = {"text": text, "operation": operation}
    if question.strip():
        body["question"] = question.strip()
    st.session_state.pop("process_error", None)
    st.session_state.pop("process_result", None)
    act = None
    try:
        with common.client().action("frontend.process_text", operation=operation) as act:
            answer = act.post(PROCESS, json=body)
            act.set_attribute("llm_obs.cache_hit", bool(answer.get("cache_hit")))
        st.session_state["process_result"] = {"answer": answer, "round_trip_ms": act.elapsed_ms,
                                              "trace_id": act.trace_id}
    except BackendError as exc:
        st.session_state["process_error"] = {"title": f"The backend answered HTTP {exc.status}",
                                             "detail": exc.detail, "trace_id": act.trace_id if act else ""}
    except BackendProblem as exc:
        st.session_state["process_error"] = {"title": "The backend is unreachable", "detail": str(exc),
                                             "trace_id": act.trace_id if act else ""}
    finally:
        if act is not None:
            common.remember(act, operation)


def _show_result(result: dict[str, Any]) -> None:
    answer = result["answer"]
    with st.container(key="process-result", border=True):
        st.subheader("Result")
        cols = st.columns(3)
        cols[0].metric("Served from cache", "yes" if answer.get("cache_hit") else "no")
        cols[1].metric("Backend processing", f"{answer.get('processing_time', 0.0) * 1000:.1f} ms")
        cols[2].metric("Round trip", f"{result['round_trip_ms']:.1f} ms")
        sentiment = answer.get("sentiment")
        if sentiment:
            st.markdown(f"**Sentiment:** {sentiment['sentiment']} (confidence {sentiment['confidence']:.2f})")
            st.write(sentiment.get("explanation", ""))
        for key, title in (("key_points", "Key points"), ("questions", "Questions")):
            if answer.get(key):
                st.markdown(f"**{title}**")
                st.markdown("\n".join(f"- {item}" for item in answer[key]))
        if answer.get("result"):
            st.markdown(answer["result"])
        model = (answer.get("metadata") or {}).get("model")
        st.caption(f"Model: {model or '—'} · operation: {answer.get('operation')} · trace id: {result['trace_id']}")


def page() -> None:
    st.title("Text processing")
    ops, ops_error = _operations()
    if ops_error:
        st.warning(f"Could not load the list of operations: {ops_error}")
    names = {op["id"]: op.get("name", op["id"]) for op in ops}
    needs_question = [names[op["id"]] for op in ops if op.get("requires_question")]

    with st.form("process-form", border=True):
        operation = st.radio("Operation", list(names), format_func=lambda i: names.get(i, i), horizontal=True,
                             key="operation", persist_state="session")
        text = st.text_area("Text", key="text", height=200, max_chars=10_000, persist_state="session",
                            placeholder="Paste 10 to 10,000 characters of text.")
        question = st.text_input("Question", key="question", max_chars=1000, persist_state="session",
                                 help=f"Only for {', '.join(needs_question) or 'question answering'}.")
        submitted = st.form_submit_button("Process", type="primary")
    if submitted:
        with st.spinner("Processing…"):
            _submit(operation or "summarize", text or "", question or "")

    error = st.session_state.get("process_error")
    if error:
        with st.container(key="process-error"):
            st.error(f"**{error['title']}.** {error['detail']}")
            st.caption(f"Your text is kept: fix the problem and submit again. Trace id: {error['trace_id'] or '—'}")
    result = st.session_state.get("process_result")
    if result:
        _show_result(result)
