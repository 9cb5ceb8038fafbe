"""``GenAIClient``: one LLM call as the GenAI semantic conventions describe it, without prompt text."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from app.services.genai import GenAIClient
from app.services.llm.base import Endpoint, LLMOutput, LLMPermanentError, LLMRequest, LLMTransientError, Usage
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.llm.offline import OfflineProvider
from instrumentation import Telemetry
from instrumentation.instruments import GENAI_DURATION, GENAI_TOKENS
from instrumentation.instruments import USAGE_ESTIMATED as ESTIMATED

SECRET_TEXT = "Patient Jane Roe, card 4111-1111-1111-1111, reported severe pain after the procedure."
SECRET_QUESTION = "What did Jane Roe report after the procedure?"


class BrokenProvider:
    name = "openai"
    model = "gpt-test"
    endpoint = Endpoint("llm.example.test", 443, 0.2, 1024)

    async def run(self, request: LLMRequest) -> LLMOutput:
        raise LLMTransientError(f"upstream error while handling {len(request.text)} chars",
                                error_type="server_error")

    async def aclose(self) -> None:
        return None


class Vendor(BrokenProvider):
    async def run(self, request: LLMRequest) -> LLMOutput:
        return LLMOutput(usage=Usage(120, 30, cache_read_input_tokens=100, reasoning_output_tokens=12),
                         model="gpt-test-0613", result="ok", response_id="chatcmpl-1")


def client(telemetry: Telemetry, provider: object, limit: int = 8) -> GenAIClient:
    return GenAIClient(provider, telemetry.tracer_provider.get_tracer("test"), telemetry.instruments,  # type: ignore[arg-type]
                       ConcurrencyLimiter(limit, 0.0, telemetry.instruments))


def attribute_text(span_exporter: InMemorySpanExporter) -> str:
    parts: list[str] = []
    for span in span_exporter.get_finished_spans():
        parts += [span.name, *(str(v) for v in (span.attributes or {}).values())]
        for event in span.events:
            parts += [event.name, *(str(v) for v in (event.attributes or {}).values())]
        parts.append(span.status.description or "")
    return "\n".join(parts)


async def test_span_follows_genai_conventions(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    provider = OfflineProvider()
    out = await client(telemetry, provider).run(LLMRequest("summarize", SECRET_TEXT))

    (span,) = span_exporter.get_finished_spans()
    assert span.name == f"chat {provider.model}"
    assert span.kind == SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "offline"
    assert attrs["gen_ai.request.model"] == provider.model
    assert attrs["gen_ai.response.model"] == out.model
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    # the offline provider counts no tokens, runs in process and takes no sampling parameters
    assert not [k for k in attrs if k.startswith(("gen_ai.usage.", "server.", "gen_ai.request.t", "llm_obs.usage"))]
    assert (out.usage.input_tokens, out.usage.output_tokens) == (None, None)
    assert "error.type" not in attrs
    assert span.status.status_code != StatusCode.ERROR


async def test_a_vendors_call_carries_server_request_and_response_attributes(
        telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    await client(telemetry, Vendor()).run(LLMRequest("summarize", SECRET_TEXT))
    (span,) = span_exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert (attrs["server.address"], attrs["server.port"]) == ("llm.example.test", 443)
    assert (attrs["gen_ai.request.temperature"], attrs["gen_ai.request.max_tokens"]) == (0.2, 1024)
    assert (attrs["gen_ai.response.id"], attrs["gen_ai.response.model"]) == ("chatcmpl-1", "gpt-test-0613")
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (120, 30)
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 12
    assert "gen_ai.response.finish_reasons" not in attrs  # the vendor gave none: none is invented
    assert ESTIMATED not in attrs

    tokens = telemetry.reader.snapshot().histogram_series(GENAI_TOKENS)
    by_type = {dict(a)["gen_ai.token.type"]: (dict(a), p) for a, p in tokens.items()}
    assert {t: p.sum for t, (_a, p) in by_type.items()} == {"input": 120, "output": 30}
    for point_attrs, _point in by_type.values():
        assert point_attrs["server.address"] == "llm.example.test" and ESTIMATED not in point_attrs


async def test_estimates_only_when_opted_in_and_then_marked(telemetry: Telemetry,
                                                            span_exporter: InMemorySpanExporter) -> None:
    out = await client(telemetry, OfflineProvider(estimate_tokens=True)).run(LLMRequest("summarize", SECRET_TEXT))
    assert out.usage.input_tokens and out.usage.output_tokens and out.usage.estimated == ("input", "output")
    (span,) = span_exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == out.usage.input_tokens
    assert attrs[ESTIMATED] == ("input", "output")
    tokens = telemetry.reader.snapshot().histogram_series(GENAI_TOKENS)
    assert len(tokens) == 2 and all(dict(a)[ESTIMATED] is True for a in tokens)


async def test_span_is_a_child_of_the_current_span(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("POST /v1/text_processing/process") as parent:
        await client(telemetry, OfflineProvider()).run(LLMRequest("sentiment", SECRET_TEXT))
    chat = next(s for s in span_exporter.get_finished_spans() if s.name.startswith("chat "))
    assert chat.parent is not None
    assert chat.parent.span_id == parent.get_span_context().span_id
    assert chat.context.trace_id == parent.get_span_context().trace_id


async def test_duration_and_token_metrics(telemetry: Telemetry) -> None:
    out = await client(telemetry, OfflineProvider(estimate_tokens=True)).run(LLMRequest("key_points", SECRET_TEXT))
    snap = telemetry.reader.snapshot()

    (duration_attrs, duration), = snap.histogram_series(GENAI_DURATION).items()
    attrs = dict(duration_attrs)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "offline"
    assert attrs["gen_ai.request.model"] == "offline-extractive-1"
    assert "error.type" not in attrs
    assert duration.count == 1
    assert 0 <= duration.sum < 5
    assert snap.meta[GENAI_DURATION].unit == "s"

    tokens = {dict(a)["gen_ai.token.type"]: p for a, p in snap.histogram_series(GENAI_TOKENS).items()}
    assert set(tokens) == {"input", "output"}
    assert tokens["input"].sum == out.usage.input_tokens
    assert tokens["output"].sum == out.usage.output_tokens
    assert tokens["input"].count == tokens["output"].count == 1
    assert snap.meta[GENAI_TOKENS].unit == "{token}"


async def test_an_error_sets_error_type_on_span_and_metric(telemetry: Telemetry,
                                                           span_exporter: InMemorySpanExporter) -> None:
    with pytest.raises(LLMTransientError):
        await client(telemetry, BrokenProvider()).run(LLMRequest("summarize", SECRET_TEXT))

    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-test"
    assert dict(span.attributes or {})["error.type"] == "server_error"  # the vendor's code
    assert span.status.status_code == StatusCode.ERROR

    snap = telemetry.reader.snapshot()
    (attrs, point), = snap.histogram_series(GENAI_DURATION).items()
    assert dict(attrs)["error.type"] == "server_error"
    assert dict(attrs)["server.address"] == "llm.example.test"
    assert dict(attrs)["gen_ai.provider.name"] == "openai"
    assert point.count == 1
    assert snap.histogram_series(GENAI_TOKENS) == {}  # no tokens are invented for a failed call


@pytest.mark.parametrize("operation", ["summarize", "sentiment", "key_points", "questions", "qa"])
async def test_no_prompt_or_completion_text_in_spans(telemetry: Telemetry, span_exporter: InMemorySpanExporter,
                                                     operation: str) -> None:
    request = LLMRequest(operation, SECRET_TEXT, question=SECRET_QUESTION)  # type: ignore[arg-type]
    out = await client(telemetry, OfflineProvider()).run(request)
    recorded = attribute_text(span_exporter)
    for secret in ("Jane Roe", "4111-1111", "severe pain", "What did"):
        assert secret not in recorded, f"{secret!r} recorded in a span"
    if out.result and len(out.result) > 20:
        assert out.result not in recorded


async def test_no_prompt_text_in_error_attributes(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    class Echo(BrokenProvider):
        """A vendor whose error body quotes the request."""

        async def run(self, request: LLMRequest) -> LLMOutput:
            raise LLMTransientError(f"HTTP 400: invalid input {request.text!r}")

    with pytest.raises(LLMTransientError):
        await client(telemetry, Echo()).run(LLMRequest("qa", SECRET_TEXT, question=SECRET_QUESTION))
    (span,) = span_exporter.get_finished_spans()
    values = " ".join(str(v) for v in (span.attributes or {}).values())
    assert "Jane Roe" not in values
    assert dict(span.attributes or {})["error.type"] == "app.services.llm.base.LLMTransientError"
    metric_attrs = telemetry.reader.snapshot().histogram_series(GENAI_DURATION)
    assert all("Jane Roe" not in str(attrs) for attrs in metric_attrs)


async def test_without_a_vendor_code_error_type_is_the_failure_underneath(
        telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    class TimingOut(BrokenProvider):
        async def run(self, request: LLMRequest) -> LLMOutput:
            try:
                raise httpx.ReadTimeout("read timed out")
            except httpx.ReadTimeout as exc:
                raise LLMTransientError("LLM request timed out (ReadTimeout)") from exc

    with pytest.raises(LLMTransientError):
        await client(telemetry, TimingOut()).run(LLMRequest("summarize", SECRET_TEXT))
    (span,) = span_exporter.get_finished_spans()
    assert dict(span.attributes or {})["error.type"] == "httpx.ReadTimeout"


async def test_a_failed_call_records_the_tokens_the_vendor_reported(telemetry: Telemetry,
                                                                   span_exporter: InMemorySpanExporter) -> None:
    class Unparseable(BrokenProvider):
        async def run(self, request: LLMRequest) -> LLMOutput:
            raise LLMPermanentError("LLM sentiment answer is not a JSON object", usage=Usage(80, 9))

    with pytest.raises(LLMPermanentError):
        await client(telemetry, Unparseable()).run(LLMRequest("sentiment", SECRET_TEXT))
    (span,) = span_exporter.get_finished_spans()
    assert dict(span.attributes or {})["gen_ai.usage.input_tokens"] == 80
    tokens = telemetry.reader.snapshot().histogram_series(GENAI_TOKENS)
    assert {dict(a)["gen_ai.token.type"]: p.sum for a, p in tokens.items()} == {"input": 80, "output": 9}
    assert all("error.type" in dict(a) for a in tokens)


async def test_a_failed_call_gives_its_slot_back(telemetry: Telemetry) -> None:
    broken = client(telemetry, BrokenProvider(), limit=1)
    for _ in range(3):  # with no wait allowed, a slot kept by a failure would refuse the next call
        with pytest.raises(LLMTransientError):
            await broken.run(LLMRequest("summarize", SECRET_TEXT))
    assert broken.limiter.in_flight == 0
