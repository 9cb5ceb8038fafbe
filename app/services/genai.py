"""One LLM call as the GenAI semantic conventions describe it (what ``opentelemetry-util-genai``
emits for an inference): a CLIENT span ``chat {model}``, ``gen_ai.client.operation.duration`` and
``gen_ai.client.token.usage``. Every call holds a slot of the concurrency limiter while it
runs. Prompt and completion text are captured only when the operator opts in (``genai_content``).

Only what the provider reported is reported: no token count it left out (unless the operator opted
in to estimates, and then marked ``llm_obs.usage.estimated``), no finish reason it did not give.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from opentelemetry._logs import Logger
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from app.services.genai_content import EVENT_NAME, ContentCapture, span_attributes
from app.services.llm.base import LLMError, LLMOutput, LLMProvider, LLMRequest, Usage
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.pricing import Price, cost
from instrumentation.instruments import USAGE_ESTIMATED, Instruments

Attributes = dict[str, AttributeValue]


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
                error = error_type(exc)
                usage = exc.usage if isinstance(exc, LLMError) else None
                span.set_attribute("error.type", error)
                # the type only: a vendor's error text may quote the prompt back
                span.set_status(Status(StatusCode.ERROR, error))
                attrs = {**self._base, "error.type": error}
                if usage is not None:
                    span.set_attributes(usage_attributes(usage))
                self._record(time.perf_counter() - start, attrs, usage, None)
                self._capture(span, request, None)
                raise
            span.set_attributes(response_attributes(output))
            self._capture(span, request, output)
            self._record(time.perf_counter() - start, {**self._base, "gen_ai.response.model": output.model},
                         output.usage, output.model)
            return output

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


def error_type(exc: BaseException) -> str:
    """The provider's error code when it sent one, else the fully qualified type of the failure
    underneath (``httpx.ReadTimeout``), as ``opentelemetry-util-genai`` names it."""
    if isinstance(exc, LLMError) and exc.error_type:
        return exc.error_type
    cause = exc.__cause__ or exc
    kind = type(cause)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


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
