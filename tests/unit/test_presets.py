"""Resilience presets match the template's tables (spec/reference-shapes.md)."""

from __future__ import annotations

from typing import get_args

import pytest

from app.resilience.presets import PRESETS, PresetName, ResiliencePolicy, policy_for

# preset: (retries, breaker failure threshold, recovery timeout s, default strategy)
PRESET_TABLE = {
    "simple": (3, 5, 60.0, "balanced"),
    "development": (2, 3, 30.0, "aggressive"),
    "production": (5, 10, 120.0, "conservative"),
}
# strategy: (max attempts, max delay s, breaker threshold, recovery s)
STRATEGY_TABLE = {
    "aggressive": (2, 10.0, 3, 30.0),
    "balanced": (3, 30.0, 5, 60.0),
    "conservative": (5, 120.0, 8, 120.0),
    "critical": (7, 300.0, 10, 300.0),
}


@pytest.mark.parametrize("name", sorted(PRESET_TABLE))
def test_template_presets(name: str) -> None:
    retries, threshold, recovery, strategy = PRESET_TABLE[name]
    policy = PRESETS[name]
    assert policy.name == name
    assert policy.max_attempts == retries
    assert policy.failure_threshold == threshold
    assert policy.recovery_timeout_s == recovery
    assert policy.strategy == strategy
    assert policy.max_delay_s == STRATEGY_TABLE[strategy][1]  # the strategy's max delay


def test_conservative_is_the_conservative_strategy() -> None:
    attempts, max_delay, threshold, recovery = STRATEGY_TABLE["conservative"]
    policy = PRESETS["conservative"]
    assert (policy.max_attempts, policy.max_delay_s, policy.failure_threshold, policy.recovery_timeout_s) == (
        attempts, max_delay, threshold, recovery)
    assert policy.strategy == "conservative"


def test_the_guide_presets_all_exist() -> None:
    assert {"simple", "development", "production", "conservative"} <= set(PRESETS)


@pytest.mark.parametrize("policy", PRESETS.values(), ids=lambda p: p.name)
def test_presets_are_sane(policy: ResiliencePolicy) -> None:
    assert policy.max_attempts >= 1
    assert 0 <= policy.base_delay_s <= policy.max_delay_s


def test_policy_for_applies_overrides_only() -> None:
    assert policy_for("production") is PRESETS["production"]
    policy = policy_for("production", failure_threshold=2, recovery_timeout_s=5.0)
    assert (policy.failure_threshold, policy.recovery_timeout_s) == (2, 5.0)
    assert (policy.max_attempts, policy.max_delay_s, policy.name) == (5, 120.0, "production")


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(KeyError):
        policy_for("bogus")


def test_the_preset_names_the_schema_lists_are_the_presets() -> None:
    assert set(get_args(PresetName)) == set(PRESETS)
