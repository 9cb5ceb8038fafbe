"""The HTTP side of ``llm-ops``: one GET per guide command, timed, never raising for an HTTP status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from instrumentation.redact import redact_text


class Unreachable(Exception):
    """The service did not answer at all (refused, timed out, DNS): exit code 3."""


@dataclass(frozen=True)
class Answer:
    path: str
    status: int
    body: Any  # the parsed JSON; None when the answer was not JSON
    text: str
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body is not None

    def field(self, *path: str) -> Any:
        """``jq '.a.b'``: the value at ``path``, or None when any step is missing."""
        value = self.body
        for step in path:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
        return value


class OpsClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                  transport=transport)

    def get(self, path: str) -> Answer:
        try:
            response = self._http.get(path)
        except httpx.TransportError as exc:
            raise Unreachable(redact_text(f"{self.base_url}{path}: {type(exc).__name__}: {exc}")) from exc
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        return Answer(path, response.status_code, body, response.text,
                      round(response.elapsed.total_seconds() * 1000, 3))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
