"""What a cache entry holds: the answer of one text operation, as the service wrote it.

Everything read back is untrusted: other versions and other writers share Redis, and a restore is a
file. A stored value counts only when it parses into ``CachedAnswer``: every field this version
writes, nothing else (an older value with an ``operation`` key is not an answer of this one).
Anything else, or more than ``CACHE_MAX_VALUE_BYTES`` of JSON, is ``InvalidValue`` with a reason,
which callers treat as a miss.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from app.cache.codec import InvalidValue, json_body


class SentimentOut(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    confidence: float
    explanation: str


class CachedAnswer(BaseModel):
    """The fields of ``ProcessResponse`` that come from the LLM; each is written, ``None`` when empty."""

    model_config = ConfigDict(extra="forbid")

    result: str | None
    sentiment: SentimentOut | None
    key_points: list[str] | None
    questions: list[str] | None
    metadata: dict[str, Any]


class NotAnAnswer(InvalidValue):
    reason = "not_an_answer"


def read(blob: bytes, max_bytes: int) -> CachedAnswer:
    """The answer ``blob`` holds (at most ``max_bytes`` of JSON), or ``InvalidValue`` saying why it holds
    none. Parsed straight into the model: pydantic's parser bounds nesting too (no ``RecursionError``)."""
    try:
        return CachedAnswer.model_validate_json(json_body(blob, max_bytes))
    except ValidationError:
        # Not the pydantic message: it quotes the input, i.e. the value.
        raise NotAnAnswer("not an answer of this service") from None
