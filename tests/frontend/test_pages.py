"""The two pages, driven as a person would in headless Chromium, against the real service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.processes import LiveService

if TYPE_CHECKING:
    from .browser import Browser

pytestmark = [pytest.mark.frontend, pytest.mark.timeout(1200)]  # the first run makes the frontend venv

TEXT = ".st-key-text textarea"
QUESTION = ".st-key-question input"
RESULT = ".st-key-process-result"
ERROR = ".st-key-process-error"


def _text() -> tuple[str, str]:
    """A text nobody sent before (so the first answer is a cache miss), and its first sentence."""
    token = uuid.uuid4().hex[:12]
    first = f"Frontend check {token} keeps one click in one trace."
    return token, f"{first} The Collector receives every span. Grafana shows the whole path."


@pytest.fixture
def breakers_closed(api: httpx.Client, fake_llm: FakeOpenAI) -> Iterator[None]:
    yield
    fake_llm.mode = "ok"
    api.post("/internal/resilience/circuit-breakers/ai_service/reset").raise_for_status()


def test_submit_shows_the_result_then_the_cached_one(browser: Browser) -> None:
    token, text = _text()
    browser.open("/")
    browser.type_into(TEXT, text)
    browser.click_button("Process")
    browser.wait_text(RESULT, token, "Served from cache\nno", "Backend processing", "Round trip", "gpt-test")
    first_trace = browser.trace_id()

    browser.click_button("Process")  # the same text again: the backend answers from its cache
    browser.wait_text(RESULT, token, "Served from cache\nyes")
    browser.wait_for(lambda: browser.trace_id() != first_trace, "a trace id of its own for the second click")
    assert browser.value(TEXT) == text  # the input stays for the next submit


def test_backend_error_detail_is_shown(browser: Browser) -> None:
    browser.open("/")
    browser.choose("operation", "Question answering")
    browser.type_into(TEXT, "Too short")  # 9 characters: the backend wants 10
    browser.click_button("Process")
    browser.wait_text(ERROR, "HTTP 422", "text: String should have at least 10 characters", "Your text is kept")
    assert browser.value(TEXT) == "Too short" and browser.chosen("operation") == "Question answering"


def test_backend_down_shows_an_error_and_keeps_what_was_typed(browser: Browser, backend: LiveService) -> None:
    token, text = _text()
    question = f"What does check {token} keep?"
    browser.open("/")
    browser.choose("operation", "Question answering")
    browser.type_into(TEXT, text)
    browser.type_into(QUESTION, question)
    backend.stop()
    try:
        browser.click_button("Process")
        # Streamlit sends the message and its caption as separate deltas: wait for both.
        browser.wait_text(ERROR, "The backend is unreachable", f"{backend.url} cannot be reached",
                          "Your text is kept")
        assert browser.value(TEXT) == text
        assert browser.value(QUESTION) == question
        assert browser.chosen("operation") == "Question answering"
    finally:
        backend.start()

    # The backend is back: the same inputs, submitted again, now get an answer.
    browser.click_button("Process")
    browser.wait_text(RESULT, token, "operation: qa")
    browser.wait_gone(ERROR)


def test_operations_page_without_backend(browser: Browser, backend: LiveService) -> None:
    backend.stop()
    try:
        browser.open("/operations", ready=".st-key-ops-error")
        assert "cannot be reached" in browser.text(".st-key-ops-error")
    finally:
        backend.start()


def test_operations_page_shows_status_alerts_and_kpis(browser: Browser, api: httpx.Client) -> None:
    def status() -> str:
        return str(api.get("/internal/monitoring/health").json()["overall_status"])

    before = status()
    browser.open("/operations", ready=".st-key-overall-status")
    shown = browser.text(".st-key-overall-status")
    assert shown.removeprefix("Overall status: ") in {before, status()}, shown
    kpis = browser.wait_text(".st-key-kpis", "API response time P95", "above 2000 ms")
    assert "Cache hit ratio" in kpis and "below 70 %" in kpis
    page = browser.page_text()
    assert "Active alerts" in page and "Critical" in page and "Warning" in page
    for title in ("System health", "Performance", "Infrastructure"):  # GRAFANA_URL is set
        link = browser.find(f".st-key-grafana-links a[href$='/d/llm-{title.lower().replace(' ', '-')}']")
        assert title in link.text


def test_circuit_breaker_reset_asks_for_confirmation(browser: Browser, api: httpx.Client, fake_llm: FakeOpenAI,
                                                     breakers_closed: None) -> None:
    def state(name: str) -> str:
        return str(api.get("/internal/resilience/circuit-breakers").json()[name]["state"])

    # A failing LLM: each click is two failed attempts; the third failure opens the breakers.
    fake_llm.mode = "error500"
    _token, text = _text()
    browser.open("/")
    browser.type_into(TEXT, text)
    browser.click_button("Process")
    browser.wait_text(ERROR, "HTTP 502", "The AI provider failed after retries")
    browser.click_button("Process")
    browser.wait_for(lambda: state("ai_service") == "open", "ai_service to open")
    browser.click_button("Process")  # now refused before any call to the LLM, with the backend's detail
    browser.wait_text(ERROR, "HTTP 503", "The AI service is unavailable")

    browser.open("/operations", ready=".st-key-breakers")
    assert "ai_service\nopen" in browser.wait_text(".st-key-breakers", "ai_service")
    browser.click_button("Reset ai_service")
    browser.wait_text(".st-key-confirm-reset", "Reset circuit breaker ai_service?")
    assert state("ai_service") == "open"  # asking is not doing
    browser.click_button("Cancel")
    browser.wait_gone(".st-key-confirm-reset")
    assert state("ai_service") == "open"

    browser.click_button("Reset ai_service")
    browser.click_button("Yes, reset ai_service")
    browser.wait_text(".st-key-ops-flash", "circuit breaker 'ai_service' reset")
    assert state("ai_service") == "closed" and state("summarize") == "closed"  # the cascade closed it too
    assert "ai_service\nclosed" in browser.wait_text(".st-key-breakers", "ai_service\nclosed")
    assert "reset of ai_service" in browser.text(".st-key-last-trace")
    browser.trace_id()


def test_maintenance_mode_on_and_off(browser: Browser, api: httpx.Client) -> None:
    try:
        browser.open("/operations", ready=".st-key-maintenance")
        browser.wait_text(".st-key-maintenance", "Maintenance mode is off")
        browser.click_button("Enable maintenance mode")
        browser.wait_text(".st-key-maintenance", "Maintenance mode is on")
        assert api.get("/internal/monitoring/maintenance-mode").json()["enabled"] is True
        browser.click_button("Disable maintenance mode")
        browser.wait_text(".st-key-maintenance", "Maintenance mode is off")
        assert api.get("/internal/monitoring/maintenance-mode").json()["enabled"] is False
    finally:
        api.post("/internal/monitoring/maintenance-mode/disable")
