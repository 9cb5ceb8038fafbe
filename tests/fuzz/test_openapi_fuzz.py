"""Property-based fuzzing of the whole OpenAPI schema (schemathesis): valid and invalid requests to every
operation; no answer is a 5xx, and every 4xx is JSON whose ``detail`` says what was wrong.

Hermetic: the offline provider, no Redis, no webhook (test-webhook answers 409), no OTLP export. The app
runs in-process through schemathesis' ASGI transport, lifespan included.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.main import create_app
from tests.integration.conftest import make_settings

APP = create_app(make_settings(redis_enabled=False, llm_provider="offline", monitoring_webhook_url="",
                               otel_exporter_otlp_endpoint="", enable_external_monitoring=False,
                               log_level="WARNING"))  # the suite's usual logging: built at collection
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def _detail_says_something(detail: Any) -> bool:
    if isinstance(detail, str):
        return bool(detail.strip())
    if isinstance(detail, list):  # validation errors: each names where and what
        return bool(detail) and all(isinstance(e, dict) and e.get("loc") and e.get("msg") for e in detail)
    return False


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_5xx_and_every_4xx_explains_itself(case: Any) -> None:
    response = case.call()
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        assert (response.headers.get("content-type") or [""])[0].startswith("application/json"), where
        body = response.json()
        assert isinstance(body, dict) and _detail_says_something(body.get("detail")), where


@pytest.fixture(scope="module", autouse=True)
def _stop_the_app() -> Any:
    yield
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()
