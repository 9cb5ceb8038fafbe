"""The provider interface and its small exception hierarchy.

``LLMTransientError`` is what retries and circuit breakers count (timeouts, connection errors, 429,
5xx); ``LLMPermanentError`` (a 4xx, an unreadable answer) is not retried. ``LLMBusyError`` is the
service's own limit, not the vendor's failure: neither retried nor counted by a breaker.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Operation = Literal["summarize", "sentiment", "key_points", "questions", "qa"]
OPERATIONS: tuple[Operation, ...] = ("summarize", "sentiment", "key_points", "questions", "qa")


class LLMError(Exception):
    """The provider could not produce an answer.

    ``error_type`` is the provider's own error code when it sent one (``rate_limit_exceeded``, or the
    HTTP status): telemetry reports it as ``error.type``. ``usage`` is what the provider reported for a
    call that failed after it answered (an answer that does not parse still cost its tokens).
    """

    def __init__(self, message: str = "", *, error_type: str | None = None, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.usage = usage


class LLMTransientError(LLMError):
    """Worth retrying: timeout, connection failure, rate limit, server error."""


class LLMPermanentError(LLMError):
    """Not worth retrying: the request or the answer is wrong."""


class LLMBusyError(LLMError):
    """Every slot of LLM_MAX_CONCURRENCY stayed taken for LLM_QUEUE_TIMEOUT_SECONDS: the call was not made."""

    def __init__(self, limit: int, waited_s: float, retry_after_s: float) -> None:
        super().__init__(f"the service is at its LLM concurrency limit ({limit} calls in flight); "
                         f"no slot freed within {waited_s:g} s")
        self.limit = limit
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class LLMRequest:
    operation: Operation
    text: str
    question: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reported them, ``None`` where it reported nothing.

    ``estimated`` names the counts ("input", "output") that the service estimated itself because the
    operator opted in (``LLM_ESTIMATE_TOKENS``); the GenAI conventions forbid reporting estimates
    otherwise, and telemetry marks them so dashboards can tell them apart.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    estimated: tuple[str, ...] = ()


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
    finish_reason: str | None = None  # None: the provider gave none (not reported, never invented)
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a streamed answer.

    ``text`` is the model's next text (empty in a chunk that carries only metadata); ``model``,
    ``response_id``, ``finish_reason`` and ``usage`` are what the vendor said about the answer in this
    chunk (an OpenAI stream reports its usage in a last chunk of its own). The final chunk of a stream
    carries ``output``, the whole answer parsed, and nothing else: it is not a vendor chunk.
    """

    text: str = ""
    model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    output: LLMOutput | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a provider sends its calls and with which request parameters (``None``: not sent)."""

    address: str | None = None  # server.address
    port: int | None = None  # server.port
    temperature: float | None = None  # gen_ai.request.temperature
    max_tokens: int | None = None  # gen_ai.request.max_tokens


class LLMProvider(Protocol):
    name: str  # gen_ai.provider.name
    model: str  # gen_ai.request.model
    endpoint: Endpoint

    async def run(self, request: LLMRequest) -> LLMOutput: ...

    def stream(self, request: LLMRequest) -> AsyncGenerator[Chunk, None]:
        """The answer as it is produced: vendor chunks, then one chunk with the parsed ``output``.
        A failure raises ``LLMError`` (with the usage reported so far) out of the iteration."""
        ...

    def messages(self, request: LLMRequest) -> tuple[str | None, str]:
        """(system instruction, user message) as sent for ``request``: for opt-in content capture."""
        ...

    async def aclose(self) -> None: ...
