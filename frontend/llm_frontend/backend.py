"""The backend's HTTP API as the frontend uses it: one traced span per user action around the HTTPX
calls it makes, and two errors a page can show as they are.

    client = BackendClient(settings, tracer_provider)
    with client.action("frontend.process_text", operation="summarize") as act:
        body = act.post("/v1/text_processing/process", json={...})
    act.trace_id, act.elapsed_ms

``BackendUnavailable``: no HTTP answer (refused, timed out). ``BackendError``: an HTTP error answer,
with the backend's ``detail`` made readable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, format_trace_id

from .settings import FrontendSettings
from .telemetry import instrument_client

PROCESS = "/v1/text_processing/process"
OPERATIONS = "/v1/text_processing/operations"
HEALTH = "/internal/monitoring/health"
ALERTS = "/internal/monitoring/alerts"
PERFORMANCE = "/internal/monitoring/performance"
BREAKERS = "/internal/resilience/circuit-breakers"
MAINTENANCE = "/internal/monitoring/maintenance-mode"


class BackendProblem(Exception):
    """Anything that kept the backend from answering a call with success."""


class BackendUnavailable(BackendProblem):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"The backend at {url} cannot be reached ({reason}). Is it running?")


class BackendError(BackendProblem):
    def __init__(self, status: int, detail: str, error: str | None = None) -> None:
        self.status, self.detail, self.error = status, detail, error
        super().__init__(f"The backend answered HTTP {status}: {detail}")


def describe_detail(status: int, body: Any, text: str = "") -> str:
    """The backend's ``detail`` as one readable line: a string as it is; FastAPI's validation list as
    ``field: message`` pairs; anything else (a proxy's HTML page) as a short excerpt."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                parts.append(str(item))
                continue
            loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
            msg = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
            parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
        return "; ".join(parts)
    excerpt = " ".join(text.split())[:200]
    return excerpt or f"HTTP {status} without a body"


class Action:
    """One user action: its span, its trace id, and the calls made inside it."""

    def __init__(self, client: httpx.Client, span: Span, base_url: str) -> None:
        self._client, self._span, self._base_url = client, span, base_url
        self.trace_id = format_trace_id(span.get_span_context().trace_id)
        self.elapsed_ms = 0.0
        self.calls = 0

    def set_attribute(self, key: str, value: str | bool | int | float) -> None:
        self._span.set_attribute(key, value)

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params or None)

    def post(self, path: str, json: Any = None) -> Any:
        return self._call("POST", path, json=json)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise BackendUnavailable(self._base_url, "no answer in time") from None
        except httpx.HTTPError as exc:
            raise BackendUnavailable(self._base_url, type(exc).__name__) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
            raise BackendError(response.status_code, describe_detail(response.status_code, body, response.text),
                               error)
        return body


class _Keys(httpx.Auth):
    """The client key for /v1, the operator key for /internal/*: the backend takes no other."""

    def __init__(self, settings: FrontendSettings) -> None:
        self._client, self._operator = settings.api_key, settings.operator_key

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        key = self._operator if request.url.path.startswith("/internal") else self._client
        if key:
            request.headers["Authorization"] = f"Bearer {key}"
        yield request


class BackendClient:
    def __init__(self, settings: FrontendSettings, tracer_provider: TracerProvider,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = settings.backend_url
        self._client = httpx.Client(base_url=settings.backend_url, auth=_Keys(settings), timeout=settings.timeout_s,
                                    transport=transport)
        instrument_client(self._client, tracer_provider)
        self._tracer = tracer_provider.get_tracer("llm_frontend")

    @contextmanager
    def action(self, name: str, **attributes: str) -> Iterator[Action]:
        """A span named ``name`` (``frontend.*``) around everything done inside; the HTTPX spans and the
        backend's server span are its children. A failure marks the span as an error and propagates."""
        attrs = {f"llm_obs.{k}": v for k, v in attributes.items()}  # the project's namespace
        with self._tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, attributes=attrs,
                                                record_exception=False, set_status_on_exception=False) as span:
            act = Action(self._client, span, self.base_url)
            start = time.perf_counter()
            try:
                yield act
            except BackendProblem as exc:
                kind = type(exc).__name__ if not isinstance(exc, BackendError) else str(exc.status)
                span.set_attribute("error.type", kind)
                span.set_status(Status(StatusCode.ERROR, kind))
                raise
            finally:
                act.elapsed_ms = (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self._client.close()
