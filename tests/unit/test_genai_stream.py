"""``GenAIClient.stream``: one span and one duration over the whole stream, time to first chunk, the
vendor's streamed usage, and a stream that breaks off or is abandoned still ends its span, records
what it had, and releases its connection and its limiter slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from app.services.genai import GenAIClient
from app.services.llm.base import Chunk, LLMRequest, LLMTransientError
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.llm.offline import OfflineProvider, answer_text
from app.services.llm.openai_compat import OpenAICompatibleProvider
from instrumentation import Telemetry
from instrumentation.instruments import (
    GENAI_DURATION,
    GENAI_TIME_PER_OUTPUT_CHUNK,
    GENAI_TIME_TO_FIRST_CHUNK,
    GENAI_TOKENS,
)
from tests.fakes.openai_server import FakeOpenAI

TEXT = "The release is fast and reliable. Users love the simpler setup. The docs still have a gap."


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def client(telemetry: Telemetry, provider: object) -> GenAIClient:
    return GenAIClient(provider, telemetry.tracer_provider.get_tracer("test"), telemetry.instruments,  # type: ignore[arg-type]
                       ConcurrencyLimiter(4, 0.0, telemetry.instruments))


def vendor(fake: FakeOpenAI) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(fake.base_url, "gpt-test", "sk-test", timeout_s=5)


async def drain(genai: GenAIClient, request: LLMRequest) -> list[Chunk]:
    return [chunk async for chunk in genai.stream(request)]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_offline_stream_is_one_span_with_time_to_first_chunk(telemetry: Telemetry,
                                                                   span_exporter: InMemorySpanExporter) -> None:
    chunks = await drain(client(telemetry, OfflineProvider()), LLMRequest("summarize", TEXT))

    *pieces, last = chunks
    assert last.output is not None and all(c.output is None for c in pieces)
    assert "".join(c.text for c in pieces) == answer_text(last.output)  # the whole answer, word by word
    span = only_span(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat offline-extractive-1" and span.status.status_code != StatusCode.ERROR
    assert attrs["gen_ai.request.stream"] is True
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0 <= ttfc <= (span.end_time - span.start_time) / 1e9  # type: ignore[operator]

    snap = telemetry.reader.snapshot()
    ((first_attrs, first),) = snap.histogram_series(GENAI_TIME_TO_FIRST_CHUNK).items()
    assert first.count == 1 and first.sum == pytest.approx(ttfc)
    assert snap.meta[GENAI_TIME_TO_FIRST_CHUNK].unit == "s"
    assert dict(first_attrs)["gen_ai.provider.name"] == "offline"
    ((_a, gaps),) = snap.histogram_series(GENAI_TIME_PER_OUTPUT_CHUNK).items()
    assert gaps.count == len(pieces) - 1  # one gap per chunk after the first
    ((_a, duration),) = snap.histogram_series(GENAI_DURATION).items()
    assert duration.count == 1


async def test_a_vendor_stream_asks_for_usage_and_reports_it(telemetry: Telemetry, fake: FakeOpenAI,
                                                            span_exporter: InMemorySpanExporter) -> None:
    provider = vendor(fake)
    chunks = await drain(client(telemetry, provider), LLMRequest("key_points", TEXT))
    await provider.aclose()

    body = fake.last.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    output = chunks[-1].output
    assert output is not None and output.key_points and output.finish_reason == "stop"
    assert output.usage.input_tokens and output.usage.output_tokens and not output.usage.estimated
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == output.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == output.usage.output_tokens
    assert attrs["gen_ai.response.id"] == "chatcmpl-fake-1"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    tokens = {dict(a)["gen_ai.token.type"]: p.sum for a, p in
              telemetry.reader.snapshot().histogram_series(GENAI_TOKENS).items()}
    assert tokens == {"input": output.usage.input_tokens, "output": output.usage.output_tokens}


async def test_a_vendor_that_answers_whole_is_taken_as_one_chunk(telemetry: Telemetry, fake: FakeOpenAI) -> None:
    fake.stream_events = False  # an OpenAI-compatible server that ignores "stream"
    provider = vendor(fake)
    chunks = await drain(client(telemetry, provider), LLMRequest("summarize", TEXT))
    await provider.aclose()
    assert chunks[-1].output is not None and chunks[-1].output.result == "The release is fast and reliable."
    assert chunks[-1].output.usage.input_tokens


async def test_a_stream_the_vendor_breaks_off_ends_its_span_as_an_error(
        telemetry: Telemetry, fake: FakeOpenAI, span_exporter: InMemorySpanExporter) -> None:
    fake.break_after = 3
    provider = vendor(fake)
    genai = client(telemetry, provider)
    received: list[Chunk] = []
    with pytest.raises(LLMTransientError, match="ended before the answer was complete"):
        async for chunk in genai.stream(LLMRequest("summarize", TEXT)):
            received.append(chunk)
    await provider.aclose()

    assert [c.text for c in received if c.text] == ["The", " release", " is"]
    span = only_span(span_exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "_OTHER"
    ((attrs, duration),) = telemetry.reader.snapshot().histogram_series(GENAI_DURATION).items()
    assert dict(attrs)["error.type"] == "_OTHER" and duration.count == 1
    assert genai.limiter.in_flight == 0


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_an_abandoned_stream_ends_its_span_and_releases_the_vendor(
        telemetry: Telemetry, fake: FakeOpenAI, span_exporter: InMemorySpanExporter, how: str) -> None:
    fake.chunk_delay_s = 0.05  # 40-odd words: the stream would run for seconds
    fake.reply = " ".join(f"word{i}" for i in range(60))
    provider = vendor(fake)
    genai = client(telemetry, provider)
    stream = genai.stream(LLMRequest("summarize", TEXT))
    two_words = asyncio.Event()

    async def consume() -> None:
        words = 0
        async for chunk in stream:
            words += bool(chunk.text)
            if words == 2:
                two_words.set()

    if how == "aclose":  # the consumer stops reading and closes the stream
        async for chunk in stream:
            if chunk.text == " word1":
                break
        await stream.aclose()
    else:  # the consumer's task is cancelled mid-stream (a client that went away)
        task = asyncio.create_task(consume())
        await asyncio.wait_for(two_words.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    span = only_span(span_exporter)  # ended at once, not when the garbage collector comes by
    assert span.status.status_code == StatusCode.ERROR and span.status.description == "abandoned stream"
    assert dict(span.attributes or {})["error.type"] == "_OTHER"
    assert genai.limiter.in_flight == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}  # no task left behind
    ((attrs, duration),) = telemetry.reader.snapshot().histogram_series(GENAI_DURATION).items()
    assert dict(attrs)["error.type"] == "_OTHER" and duration.count == 1
    # the vendor's connection was closed, not left to stream into nowhere
    await wait_for(lambda: fake.streams_abandoned == 1, "the fake vendor to see its client go away")
    await provider.aclose()
