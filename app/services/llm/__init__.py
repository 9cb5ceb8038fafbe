"""LLM providers behind one interface: offline (deterministic, default) and OpenAI-compatible HTTP."""

from app.services.llm.base import (
    LLMError,
    LLMOutput,
    LLMPermanentError,
    LLMProvider,
    LLMRequest,
    LLMTransientError,
    Operation,
    SentimentResult,
    Usage,
)

__all__ = [
    "LLMError", "LLMOutput", "LLMPermanentError", "LLMProvider", "LLMRequest", "LLMTransientError",
    "Operation", "SentimentResult", "Usage",
]
