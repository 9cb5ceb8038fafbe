"""The body of ``POST /internal/resilience/config/apply-preset``, parsed from raw bytes.

The guide sends it with ``curl -d`` and no Content-Type, so it arrives labelled as a form; the bytes
are read as JSON whatever the label says. Anything else is a ``ConfigError`` whose message says what
was wrong and what is accepted.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.resilience.presets import PRESETS, ResiliencePolicy, policy_for

EXAMPLE = '{"preset": "conservative"}'


class ConfigError(ValueError):
    """The body is not a config ``apply`` can take."""


def valid_presets() -> str:
    return ", ".join(sorted(PRESETS))


class Overrides(BaseModel):
    # Bounds as the RESILIENCE_* environment variables have them (app/settings.py).
    model_config = ConfigDict(extra="forbid")
    max_attempts: int | None = Field(default=None, ge=1, le=20)
    failure_threshold: int | None = Field(default=None, ge=1, le=1000)
    recovery_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    base_delay_s: float | None = Field(default=None, ge=0, le=60)
    max_delay_s: float | None = Field(default=None, ge=0, le=3600)


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str
    overrides: Overrides | None = None  # absent: keep the live overrides; {} clears them

    @field_validator("preset")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset '{value}'; valid presets: {valid_presets()}")
        return value

    def resolve(self, live_overrides: dict[str, Any]) -> tuple[ResiliencePolicy, dict[str, Any]]:
        """The policy this request asks for, and the overrides it keeps."""
        overrides = live_overrides if self.overrides is None else self.overrides.model_dump(exclude_none=True)
        return policy_for(self.preset, **overrides), dict(overrides)


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        if e["type"] == "missing" and e["loc"] == ("preset",):
            parts.append(f"'preset' is required; valid presets: {valid_presets()}")
        elif e["type"] == "extra_forbidden":
            allowed = "preset, overrides" if len(e["loc"]) == 1 else ", ".join(Overrides.model_fields)
            parts.append(f"unknown field '{where}' (accepted: {allowed})")
        else:
            parts.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_apply(raw: bytes) -> ApplyRequest:
    if not raw.strip():
        raise ConfigError(f"the body is empty; send JSON like {EXAMPLE}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"the body must be JSON like {EXAMPLE}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the body must be a JSON object like {EXAMPLE}, not {type(data).__name__}")
    try:
        return ApplyRequest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
