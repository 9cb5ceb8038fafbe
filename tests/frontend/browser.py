"""A thin Selenium helper for Streamlit pages: open a page, type, click by label, wait for text.

Streamlit re-renders after every interaction and replaces DOM nodes as it goes, so every read is a fresh
lookup inside a bounded wait (stale or missing nodes just mean "not yet"). Elements are found by the
``st-key-<key>`` class Streamlit gives a keyed widget or container.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 30.0  # every wait is bounded by this
TRACE_ID = re.compile(r"\b[0-9a-f]{32}\b")
_TRANSIENT = (NoSuchElementException, StaleElementReferenceException, ElementClickInterceptedException)


class Browser:
    def __init__(self, driver: Any, base_url: str) -> None:
        self.driver, self.base_url = driver, base_url

    def open(self, path: str = "/", ready: str = ".st-key-text textarea") -> None:
        """Load a page (a new Streamlit session) and wait until ``ready`` is on it."""
        self.driver.get(self.base_url + path)
        self.wait_for(lambda: self.find(ready), f"{ready} on {path}")

    def wait_for(self, probe: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        def attempt(_driver: Any) -> Any:
            try:
                return probe()
            except _TRANSIENT:
                return False

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(attempt)
        except Exception as exc:  # TimeoutException: say what we were waiting for, and what the page shows
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; the page shows:\n"
                                 f"{self.page_text()[-3000:]}") from exc

    def find(self, css: str) -> WebElement:
        element: WebElement = self.driver.find_element(By.CSS_SELECTOR, css)
        return element

    def text(self, css: str) -> str:
        try:
            return str(self.find(css).text)
        except _TRANSIENT:
            return ""

    def page_text(self) -> str:
        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except _TRANSIENT:
            return ""

    def wait_text(self, css: str, *needles: str, timeout: float = WAIT_S) -> str:
        """Wait until the element ``css`` contains every needle; its text."""
        return str(self.wait_for(lambda: (t := self.text(css)) and all(n in t for n in needles) and t,
                                 f"{needles} in {css}", timeout))

    def wait_gone(self, css: str, timeout: float = WAIT_S) -> None:
        self.wait_for(lambda: not self.driver.find_elements(By.CSS_SELECTOR, css), f"{css} to go away", timeout)

    def type_into(self, css: str, text: str) -> None:
        element = self.wait_for(lambda: self.find(css), css)
        element.clear()
        element.send_keys(text)

    def value(self, css: str) -> str:
        return str(self.find(css).get_attribute("value") or "")

    def click_button(self, label: str) -> None:
        xpath = f"//button[normalize-space(.)={_xpath_literal(label)}]"
        self.wait_for(lambda: self.driver.find_element(By.XPATH, xpath).is_enabled()
                      and (self.driver.find_element(By.XPATH, xpath).click() or True), f"button {label!r}")

    def choose(self, key: str, label: str) -> None:
        """Pick the option ``label`` of the radio widget with key ``key``."""
        xpath = (f"//*[contains(concat(' ', @class, ' '), ' st-key-{key} ')]"
                 f"//label[normalize-space(.)={_xpath_literal(label)}]")
        self.wait_for(lambda: self.driver.find_element(By.XPATH, xpath).click() or True, f"radio {label!r}")

    def chosen(self, key: str) -> str:
        """The label of the checked option of the radio widget ``key``."""
        checked = self.find(f".st-key-{key} input[type=radio]:checked")
        return str(checked.find_element(By.XPATH, "ancestor::label[1]").text).strip()

    def trace_id(self, css: str = ".st-key-last-trace") -> str:
        found = self.wait_for(lambda: TRACE_ID.search(self.text(css)), f"a trace id in {css}")
        return str(found.group(0))


def _xpath_literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else "concat('" + "', \"'\", '".join(text.split("'")) + "')"
