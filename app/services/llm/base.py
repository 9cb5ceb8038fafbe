"""The provider interface and its small exception hierarchy.

``LLMTransientError`` is what retries and circuit breakers count (timeouts, connection errors, 429,
5xx); ``LLMPermanentError`` (a 4xx, an unreadable answer) is not retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Operation = Literal["summarize", "sentiment", "key_points", "questions", "qa"]
OPERATIONS: tuple[Operation, ...] = ("summarize", "sentiment", "key_points", "questions", "qa")


class LLMError(Exception):
    """The provider could not produce an answer."""


class LLMTransientError(LLMError):
    """Worth retrying: timeout, connection failure, rate limit, server error."""


class LLMPermanentError(LLMError):
    """Not worth retrying: the request or the answer is wrong."""


@dataclass(frozen=True, slots=True)
class LLMRequest:
    operation: Operation
    text: str
    question: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class SentimentResult:
    sentiment: Literal["positive", "negative", "neutral"]
    confidence: float
    explanation: str


@dataclass(frozen=True, slots=True)
class LLMOutput:
    usage: Usage
    model: str
    result: str | None = None
    sentiment: SentimentResult | None = None
    key_points: list[str] | None = None
    questions: list[str] | None = None
    finish_reason: str = "stop"


class LLMProvider(Protocol):
    name: str  # gen_ai.provider.name
    model: str  # gen_ai.request.model

    async def run(self, request: LLMRequest) -> LLMOutput: ...

    async def aclose(self) -> None: ...
