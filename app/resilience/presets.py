"""Resilience presets: the template's three, plus ``conservative`` (its conservative strategy).

A live policy is a preset plus overrides, field by field; ``{"preset", "overrides"}`` is the one form
in which it is exported, applied and logged, so an export applied again gives the same policy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal


@dataclass(frozen=True)
class ResiliencePolicy:
    name: str
    max_attempts: int  # attempts in all, the first one included
    failure_threshold: int  # consecutive failures that open a breaker
    recovery_timeout_s: float  # open -> half-open after this long
    base_delay_s: float  # first backoff; doubles per retry, with full jitter
    max_delay_s: float
    strategy: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PresetName = Literal["simple", "development", "production", "conservative"]  # the names PRESETS holds

PRESETS: dict[str, ResiliencePolicy] = {
    "simple": ResiliencePolicy("simple", 3, 5, 60.0, 1.0, 30.0, "balanced"),
    "development": ResiliencePolicy("development", 2, 3, 30.0, 0.5, 10.0, "aggressive"),
    "production": ResiliencePolicy("production", 5, 10, 120.0, 1.0, 120.0, "conservative"),
    "conservative": ResiliencePolicy("conservative", 5, 8, 120.0, 2.0, 120.0, "conservative"),
}
# The fields an operator may override; ``name`` and ``strategy`` belong to the preset.
TUNABLE: tuple[str, ...] = ("max_attempts", "failure_threshold", "recovery_timeout_s", "base_delay_s", "max_delay_s")


def policy_for(preset: str, *, max_attempts: int | None = None, failure_threshold: int | None = None,
               recovery_timeout_s: float | None = None, base_delay_s: float | None = None,
               max_delay_s: float | None = None) -> ResiliencePolicy:
    """The named preset with any explicit overrides applied."""
    policy = PRESETS[preset]
    overrides: dict[str, Any] = {k: v for k, v in {
        "max_attempts": max_attempts, "failure_threshold": failure_threshold,
        "recovery_timeout_s": recovery_timeout_s, "base_delay_s": base_delay_s, "max_delay_s": max_delay_s,
    }.items() if v is not None}
    return replace(policy, **overrides) if overrides else policy


def overrides_of(policy: ResiliencePolicy) -> dict[str, Any]:
    """The fields where ``policy`` departs from its preset (all of them for a policy of no preset)."""
    base = PRESETS.get(policy.name)
    return {f: getattr(policy, f) for f in TUNABLE if base is None or getattr(policy, f) != getattr(base, f)}


def config_of(policy: ResiliencePolicy, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy in the form ``POST /internal/resilience/config/apply-preset`` takes."""
    return {"preset": policy.name, "overrides": dict(overrides_of(policy) if overrides is None else overrides)}
