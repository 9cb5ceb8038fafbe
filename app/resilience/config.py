"""The body of ``POST /internal/resilience/config/apply-preset``, parsed from raw bytes.

The guide sends it with ``curl -d`` and no Content-Type, so it arrives labelled as a form; the bytes
are read as JSON whatever the label says, and a real form (``preset=conservative``) is read as one.
Anything else is a ``ConfigError`` whose message says what was wrong and what is accepted.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from app.resilience.presets import PRESETS, PresetName, ResiliencePolicy, policy_for

EXAMPLE = '{"preset": "conservative"}'


class ConfigError(ValueError):
    """The body is not a config ``apply`` can take."""


def valid_presets() -> str:
    return ", ".join(sorted(PRESETS))


def _json_number(value: Any) -> Any:
    """Numbers as JSON has them: ``false`` is not a delay of 0 s, nor ``"3"`` three attempts."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    return value


JSON_NUMBER = BeforeValidator(_json_number)  # before the bounds: 6.0 is still 6, as JSON Schema's integer says


class Overrides(BaseModel):
    # Bounds as the RESILIENCE_* environment variables have them (app/settings.py).
    model_config = ConfigDict(extra="forbid")
    max_attempts: Annotated[int, Field(ge=1, le=20), JSON_NUMBER] | None = None
    failure_threshold: Annotated[int, Field(ge=1, le=1000), JSON_NUMBER] | None = None
    recovery_timeout_s: Annotated[float, Field(gt=0, le=3600), JSON_NUMBER] | None = None
    base_delay_s: Annotated[float, Field(ge=0, le=60), JSON_NUMBER] | None = None
    max_delay_s: Annotated[float, Field(ge=0, le=3600), JSON_NUMBER] | None = None


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: PresetName
    overrides: Overrides | None = None  # absent: keep the live overrides; {} clears them

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
        elif e["type"] == "literal_error" and e["loc"] == ("preset",):
            parts.append(f"unknown preset {e['input']!r}; valid presets: {valid_presets()}")
        elif e["type"] == "extra_forbidden":
            allowed = "preset, overrides" if len(e["loc"]) == 1 else ", ".join(Overrides.model_fields)
            parts.append(f"unknown field '{where}' (accepted: {allowed})")
        else:
            parts.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_apply(raw: bytes, form: bool = False) -> ApplyRequest:
    """``raw`` as JSON whatever the label; when labelled a form and not JSON, as ``preset=<name>``."""
    if not raw.strip():
        raise ConfigError(f"the body is empty; send JSON like {EXAMPLE}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if not (form and (data := _form(raw))):
            raise ConfigError(f"the body must be JSON like {EXAMPLE}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the body must be a JSON object like {EXAMPLE}, not {type(data).__name__}")
    try:
        return ApplyRequest.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _form(raw: bytes) -> dict[str, str]:
    """A form body, e.g. ``preset=conservative`` (what ``curl -d preset=conservative`` sends); {} if not one."""
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)
