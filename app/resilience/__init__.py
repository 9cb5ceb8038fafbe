"""Retries with backoff and jitter, and circuit breakers that really open."""

from app.resilience.breaker import CircuitBreaker, CircuitOpenError
from app.resilience.manager import Resilience
from app.resilience.presets import PRESETS, ResiliencePolicy

__all__ = ["PRESETS", "CircuitBreaker", "CircuitOpenError", "Resilience", "ResiliencePolicy"]
