"""Resilience presets: the template's three, plus ``conservative`` (its conservative strategy)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


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


PRESETS: dict[str, ResiliencePolicy] = {
    "simple": ResiliencePolicy("simple", 3, 5, 60.0, 1.0, 30.0, "balanced"),
    "development": ResiliencePolicy("development", 2, 3, 30.0, 0.5, 10.0, "aggressive"),
    "production": ResiliencePolicy("production", 5, 10, 120.0, 1.0, 120.0, "conservative"),
    "conservative": ResiliencePolicy("conservative", 5, 8, 120.0, 2.0, 120.0, "conservative"),
}


def policy_for(preset: str, *, max_attempts: int | None = None, failure_threshold: int | None = None,
               recovery_timeout_s: float | None = None, base_delay_s: float | None = None) -> ResiliencePolicy:
    """The named preset with any explicit overrides applied."""
    policy = PRESETS[preset]
    overrides: dict[str, Any] = {k: v for k, v in {
        "max_attempts": max_attempts, "failure_threshold": failure_threshold,
        "recovery_timeout_s": recovery_timeout_s, "base_delay_s": base_delay_s,
    }.items() if v is not None}
    return replace(policy, **overrides) if overrides else policy
