"""Everything the frontend reads from the environment, read once."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_BACKEND_URL = "http://localhost:8000"


@dataclass(frozen=True)
class FrontendSettings:
    backend_url: str = DEFAULT_BACKEND_URL
    api_key: str = ""  # sent as ``Authorization: Bearer`` to /v1 when set
    operator_key: str = ""  # INTERNAL_API_KEY: sent instead to /internal/* (the operations page) when set
    grafana_url: str = ""  # links into Grafana only when set
    timeout_s: float = 60.0  # an LLM call may legitimately take tens of seconds

    @classmethod
    def from_env(cls) -> FrontendSettings:
        timeout = os.environ.get("BACKEND_TIMEOUT_SECONDS", "").strip()
        try:
            timeout_s = float(timeout) if timeout else cls.timeout_s
        except ValueError:
            timeout_s = cls.timeout_s  # a bad value falls back to the default, like OTEL_* variables
        return cls(
            backend_url=(os.environ.get("BACKEND_URL", "").strip() or DEFAULT_BACKEND_URL).rstrip("/"),
            api_key=os.environ.get("API_KEY", "").strip(),
            operator_key=os.environ.get("INTERNAL_API_KEY", "").strip(),
            grafana_url=os.environ.get("GRAFANA_URL", "").strip().rstrip("/"),
            timeout_s=timeout_s if timeout_s > 0 else cls.timeout_s,
        )
