"""One LLM call as the GenAI semantic conventions describe it: a CLIENT span ``chat {model}``,
``gen_ai.client.operation.duration`` and ``gen_ai.client.token.usage``. Prompt and completion text
are not recorded. Every call holds a slot of the concurrency limiter while it runs."""

from __future__ import annotations

import time

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from app.services.llm.base import LLMOutput, LLMProvider, LLMRequest
from app.services.llm.limiter import ConcurrencyLimiter
from instrumentation.instruments import Instruments


class GenAIClient:
    def __init__(self, provider: LLMProvider, tracer: Tracer, instruments: Instruments,
                 limiter: ConcurrencyLimiter) -> None:
        self.provider = provider
        self.limiter = limiter
        self._tracer = tracer
        self._instruments = instruments
        self._base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider.name,
                      "gen_ai.request.model": provider.model}

    async def run(self, request: LLMRequest) -> LLMOutput:
        # The wait for a slot is outside the span and the duration: they measure the vendor, and the
        # capacity analysis reads that duration as time a slot was busy.
        async with self.limiter.slot():
            return await self._run(request)

    async def _run(self, request: LLMRequest) -> LLMOutput:
        start = time.perf_counter()
        with self._tracer.start_as_current_span(
                f"chat {self.provider.model}", kind=SpanKind.CLIENT,
                attributes={**self._base, "app.operation": request.operation},
                record_exception=False, set_status_on_exception=False) as span:
            try:
                output = await self.provider.run(request)
            except Exception as exc:
                error = type(exc).__name__
                span.set_attribute("error.type", error)
                # the class name only: a vendor's error text may quote the prompt back
                span.set_status(Status(StatusCode.ERROR, error))
                self._instruments.genai_duration.record(time.perf_counter() - start,
                                                        {**self._base, "error.type": error})
                raise
            attrs = {**self._base, "gen_ai.response.model": output.model}
            span.set_attributes({
                "gen_ai.response.model": output.model,
                "gen_ai.response.finish_reasons": [output.finish_reason],
                "gen_ai.usage.input_tokens": output.usage.input_tokens,
                "gen_ai.usage.output_tokens": output.usage.output_tokens,
            })
            self._instruments.genai_duration.record(time.perf_counter() - start, attrs)
            self._instruments.genai_tokens.record(output.usage.input_tokens, {**attrs, "gen_ai.token.type": "input"})
            self._instruments.genai_tokens.record(output.usage.output_tokens,
                                                  {**attrs, "gen_ai.token.type": "output"})
            return output
