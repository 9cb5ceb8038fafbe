"""Text processing: the cache first (hits are served even while a breaker is open), then the LLM
through retries and breakers, then the cache again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from app.cache.keys import cache_key, ttl_for
from app.cache.tiered import TieredCache
from app.resilience.breaker import CircuitOpenError
from app.resilience.manager import Resilience, Verdict
from app.services.closing import aclose_shielded
from app.services.genai import GenAIClient
from app.services.llm.base import Chunk, LLMError, LLMOutput, LLMRequest
from app.services.models import BatchItem, BatchRequest, BatchResponse, ProcessRequest, ProcessResponse


@dataclass(frozen=True, slots=True)
class Delta:
    """The model's next text in a streamed answer."""

    text: str


StreamEvent = Delta | ProcessResponse


async def _single(response: ProcessResponse) -> AsyncGenerator[StreamEvent, None]:
    yield response


def _llm_request(request: ProcessRequest) -> LLMRequest:
    return LLMRequest(request.operation, request.text, request.question, request.options)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def response_fields(output: LLMOutput) -> dict[str, Any]:
    return {
        "result": output.result,
        "sentiment": asdict(output.sentiment) if output.sentiment else None,
        "key_points": output.key_points,
        "questions": output.questions,
        # null where the provider reported no count and estimates are off; tokens_estimated names the
        # counts the service estimated itself
        "metadata": {"model": output.model, "input_tokens": output.usage.input_tokens,
                     "output_tokens": output.usage.output_tokens, "finish_reason": output.finish_reason,
                     **({"tokens_estimated": list(output.usage.estimated)} if output.usage.estimated else {})},
    }


class TextProcessor:
    def __init__(self, llm: GenAIClient, cache: TieredCache, resilience: Resilience, max_concurrency: int) -> None:
        self.llm = llm
        self.cache = cache
        self.resilience = resilience
        # Batches pace their items to the limit (the LLM limiter, in GenAIClient, bounds every call): items
        # queue here without a deadline, so a batch alone never runs into the limiter's bounded wait.
        self._batch_limit = asyncio.Semaphore(max_concurrency)

    async def process(self, request: ProcessRequest) -> ProcessResponse:
        start, key, cached = await self._lookup(request)
        if cached is not None:
            return cached
        llm_request = _llm_request(request)
        output = await self.resilience.call(request.operation, lambda: self.llm.run(llm_request))
        return await self._answered(request, key, output, start)

    async def open_stream(self, request: ProcessRequest) -> AsyncGenerator[StreamEvent, None]:
        """The answer as a stream: ``Delta``s of the model's text as it comes, then the answer, cached
        whole once it is complete (a cache hit is the answer alone). Opened here: whatever keeps the
        call from starting (an open breaker, the limiter, a vendor refusing it after retries) raises
        now, as ``process`` would. A stream that fails later, or is closed before its end, caches
        nothing; the breakers judge the call when the stream ends."""
        start, key, cached = await self._lookup(request)
        if cached is not None:
            return _single(cached)
        llm_request = _llm_request(request)

        async def opening() -> tuple[AsyncGenerator[Chunk, None], Chunk]:
            chunks = self.llm.stream(llm_request)
            try:
                return chunks, await anext(chunks)
            except BaseException:
                await aclose_shielded(chunks)
                raise

        (chunks, first), verdict = await self.resilience.open(request.operation, opening)
        return self._relay(request, key, start, chunks, first, verdict)

    async def _relay(self, request: ProcessRequest, key: str, start: float, chunks: AsyncGenerator[Chunk, None],
                     chunk: Chunk, verdict: Verdict) -> AsyncGenerator[StreamEvent, None]:
        outcome: BaseException | None = None
        try:
            while chunk.output is None:
                if chunk.text:
                    yield Delta(chunk.text)
                chunk = await anext(chunks)
            output = chunk.output
            await chunks.aclose()  # the call is over: its span ends before the cache write
            yield await self._answered(request, key, output, start)
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            await aclose_shielded(chunks)
            verdict.judge(None if chunk.output is not None else outcome)

    async def _lookup(self, request: ProcessRequest) -> tuple[float, str, ProcessResponse | None]:
        """(when the request started, its cache key, the cached answer or None)."""
        start = time.perf_counter()
        key = cache_key(request.operation, request.text, request.options, request.question)
        cached = await self.cache.get(key, request.operation)
        if cached is None:
            return start, key, None
        # The cache hands out only values that parsed into its answer model, so this cannot fail on
        # what another writer left (that was a miss). Shallow: the sentiment is not validated twice.
        fields = dict(cached.value)
        fields["metadata"] = {**cached.value.metadata, "cache_tier": cached.tier}
        return start, key, ProcessResponse(operation=request.operation, **fields, cache_hit=True,
                                           processing_time=time.perf_counter() - start, timestamp=_now_iso())

    async def _answered(self, request: ProcessRequest, key: str, output: LLMOutput, start: float) -> ProcessResponse:
        fields = response_fields(output)
        await self.cache.set(key, fields, ttl_for(request.operation))
        return ProcessResponse(operation=request.operation, **fields, cache_hit=False,
                               processing_time=time.perf_counter() - start, timestamp=_now_iso())

    async def process_batch(self, batch: BatchRequest) -> BatchResponse:
        start = time.perf_counter()

        async def one(index: int, request: ProcessRequest) -> BatchItem:
            async with self._batch_limit:
                try:
                    return BatchItem(request_index=index, status="completed", response=await self.process(request))
                except (CircuitOpenError, LLMError) as exc:  # one item failing does not fail the batch
                    return BatchItem(request_index=index, status="failed", error=str(exc))

        items = await asyncio.gather(*(one(i, r) for i, r in enumerate(batch.requests)))
        completed = sum(1 for item in items if item.status == "completed")
        return BatchResponse(batch_id=batch.batch_id or f"batch_{uuid.uuid4().hex[:12]}",
                             total_requests=len(items), completed=completed, failed=len(items) - completed,
                             results=list(items), total_processing_time=time.perf_counter() - start)
