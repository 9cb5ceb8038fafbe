"""One LLM call as the GenAI semantic conventions describe it (what ``opentelemetry-util-genai``
emits for an inference): a CLIENT span ``chat {model}``, ``gen_ai.client.operation.duration`` and
``gen_ai.client.token.usage``. Every call holds a slot of the concurrency limiter while it
runs. Prompt and completion text are captured only when the operator opts in (``genai_content``).

Only what the provider reported is reported: no token count it left out (unless the operator opted
in to estimates, and then marked ``llm_obs.usage.estimated``), no finish reason it did not give.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry._logs import Logger
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from app.services.closing import aclose_shielded
from app.services.genai_content import EVENT_NAME, ContentCapture, span_attributes
from app.services.llm.base import Chunk, LLMError, LLMOutput, LLMPermanentError, LLMProvider, LLMRequest, Usage
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.pricing import Price, cost
from instrumentation.instruments import USAGE_ESTIMATED, Instruments

Attributes = dict[str, AttributeValue]
OTHER = "_OTHER"  # error.type when no better identifier exists (the conventions' fallback value)


class GenAIClient:
    def __init__(self, provider: LLMProvider, tracer: Tracer, instruments: Instruments,
                 limiter: ConcurrencyLimiter, content: ContentCapture | None = None,
                 events: Logger | None = None, prices: Mapping[str, Price] | None = None) -> None:
        self.provider = provider
        self.prices = dict(prices or {})
        self.content = content or ContentCapture()
        self._events = events  # the LoggerProvider's, when logs are exported: content events go there
        self.limiter = limiter
        self._tracer = tracer
        self._instruments = instruments
        # on every span and every metric point (the conventions' metric attributes)
        self._base = present({"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider.name,
                              "gen_ai.request.model": provider.model,
                              "server.address": provider.endpoint.address,
                              "server.port": provider.endpoint.port})
        self._request = present({"gen_ai.request.temperature": provider.endpoint.temperature,
                                 "gen_ai.request.max_tokens": provider.endpoint.max_tokens})

    async def run(self, request: LLMRequest) -> LLMOutput:
        # The wait for a slot is outside the span and the duration: they measure the vendor, and the
        # capacity analysis reads that duration as time a slot was busy.
        async with self.limiter.slot():
            return await self._run(request)

    async def _run(self, request: LLMRequest) -> LLMOutput:
        start = time.perf_counter()
        with self._tracer.start_as_current_span(
                f"chat {self.provider.model}", kind=SpanKind.CLIENT,
                attributes={**self._base, **self._request, "llm_obs.operation": request.operation},
                record_exception=False, set_status_on_exception=False) as span:
            try:
                output = await self.provider.run(request)
            except Exception as exc:
                self._failed(span, start, request, error_type(exc), None, reported_usage(exc))
                raise
            self._succeeded(span, start, request, output)
            return output

    async def stream(self, request: LLMRequest) -> AsyncGenerator[Chunk, None]:
        """``run`` as a stream: the provider's chunks as they come, the last one with the whole answer.

        One span and one duration cover the whole stream, with ``gen_ai.request.stream`` and the time
        to the first chunk (``gen_ai.response.time_to_first_chunk`` and its metric; the gaps between
        later chunks go to ``gen_ai.client.operation.time_per_output_chunk``). However the stream ends
        -- drained, failed, or abandoned by the consumer (``aclose``, a cancelled task) -- the span
        ends, the duration and the tokens reported so far are recorded, and the provider's stream is
        closed (its connection released). An abandoned stream ends as ``opentelemetry-util-genai``
        ends one: ``error.type`` ``_OTHER``, "abandoned stream".
        """
        async with self.limiter.slot():
            start = time.perf_counter()
            span = self._tracer.start_span(
                f"chat {self.provider.model}", kind=SpanKind.CLIENT,
                attributes={**self._base, **self._request, "llm_obs.operation": request.operation,
                            "gen_ai.request.stream": True})
            timing = _ChunkTiming(start)
            chunks = self.provider.stream(request)
            output: LLMOutput | None = None
            usage: Usage | None = None  # the last the vendor reported
            failure: BaseException | None = None
            try:
                while output is None:
                    # current only while the provider runs: the caller's context is its own between chunks
                    with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                        chunk = await anext(chunks, None)
                        if chunk is None:
                            raise LLMPermanentError("the provider's stream ended without an answer")
                        if chunk.output is None:
                            self._chunk_timed(span, timing, chunk)
                    output, usage = chunk.output, chunk.usage or usage
                    yield chunk
            except BaseException as exc:
                failure = exc
                raise
            finally:
                await aclose_shielded(chunks)
                with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
                    if output is not None:
                        self._succeeded(span, start, request, output)
                    elif isinstance(failure, GeneratorExit | asyncio.CancelledError):
                        self._failed(span, start, request, OTHER, "abandoned stream", usage)
                    else:
                        error = failure or LLMPermanentError("the stream ended without an answer")
                        self._failed(span, start, request, error_type(error), None, reported_usage(error) or usage)

    def _chunk_timed(self, span: Span, timing: _ChunkTiming, chunk: Chunk) -> None:
        now = time.perf_counter()
        if timing.attrs is None:  # the first chunk
            timing.attrs = {**self._base, **present({"gen_ai.response.model": chunk.model})}
            span.set_attribute("gen_ai.response.time_to_first_chunk", now - timing.last)
            self._instruments.genai_time_to_first_chunk.record(now - timing.last, timing.attrs)
        else:
            self._instruments.genai_time_per_output_chunk.record(now - timing.last, timing.attrs)
        timing.last = now

    def _succeeded(self, span: Span, start: float, request: LLMRequest, output: LLMOutput) -> None:
        span.set_attributes(response_attributes(output))
        self._capture(span, request, output)
        self._record(time.perf_counter() - start, {**self._base, "gen_ai.response.model": output.model},
                     output.usage, output.model)

    def _failed(self, span: Span, start: float, request: LLMRequest, error: str, description: str | None,
                usage: Usage | None) -> None:
        span.set_attribute("error.type", error)
        # the type only: a vendor's error text may quote the prompt back
        span.set_status(Status(StatusCode.ERROR, description or error))
        if usage is not None:
            span.set_attributes(usage_attributes(usage))
        self._record(time.perf_counter() - start, {**self._base, "error.type": error}, usage, None)
        self._capture(span, request, None)

    def _capture(self, span: Span, request: LLMRequest, output: LLMOutput | None) -> None:
        if not self.content.enabled:
            return
        messages = self.content.messages(*self.provider.messages(request), output)
        if self.content.on_span:
            span.set_attributes(span_attributes(messages))
        if self.content.as_event and self._events is not None:
            # inside the span: the record carries its trace and span id
            self._events.emit(event_name=EVENT_NAME, attributes={**self._base, **messages})

    def _record(self, seconds: float, attrs: Attributes, usage: Usage | None, model: str | None) -> None:
        self._instruments.genai_duration.record(seconds, attrs)
        for token_type, count, estimated in token_records(usage):
            point = {**attrs, "gen_ai.token.type": token_type}
            self._instruments.genai_tokens.record(count, {**point, USAGE_ESTIMATED: True} if estimated else point)
        for token_type, usd in cost(self.prices, (model, self.provider.model), usage).items():
            self._instruments.genai_cost.add(usd, {**attrs, "gen_ai.token.type": token_type})


@dataclass(slots=True)
class _ChunkTiming:
    last: float  # when the call started, then when the latest chunk came
    attrs: Attributes | None = None  # the chunk metrics' attributes, set by the first chunk


def error_type(exc: BaseException) -> str:
    """The provider's error code when it sent one, else the fully qualified type of the failure
    underneath (``httpx.ReadTimeout``), as ``opentelemetry-util-genai`` names it."""
    if isinstance(exc, LLMError) and exc.error_type:
        return exc.error_type
    cause = exc.__cause__ or exc
    kind = type(cause)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def reported_usage(exc: BaseException) -> Usage | None:
    """What the provider reported for a call that failed after it answered."""
    return exc.usage if isinstance(exc, LLMError) else None


def response_attributes(output: LLMOutput) -> Attributes:
    return {**present({"gen_ai.response.model": output.model, "gen_ai.response.id": output.response_id}),
            **({"gen_ai.response.finish_reasons": [output.finish_reason]} if output.finish_reason else {}),
            **usage_attributes(output.usage)}


def usage_attributes(usage: Usage) -> Attributes:
    attrs = present({"gen_ai.usage.input_tokens": usage.input_tokens,
                     "gen_ai.usage.output_tokens": usage.output_tokens,
                     "gen_ai.usage.cache_read.input_tokens": usage.cache_read_input_tokens,
                     "gen_ai.usage.reasoning.output_tokens": usage.reasoning_output_tokens})
    if usage.estimated:
        attrs[USAGE_ESTIMATED] = list(usage.estimated)
    return attrs


def token_records(usage: Usage | None) -> Iterator[tuple[str, int, bool]]:
    """(``gen_ai.token.type``, count, estimated) for each count there is: the conventions' metric
    has the types input and output only (cached and reasoning tokens are in them)."""
    if usage is None:
        return
    for token_type, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
        if count is not None:
            yield token_type, count, token_type in usage.estimated


def present(values: Mapping[str, AttributeValue | None]) -> Attributes:
    return {k: v for k, v in values.items() if v is not None}
