"""Opt-in content capture: nothing by default; on a span or as an event when asked; masked and bounded."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.services.genai import GenAIClient
from app.services.genai_content import EVENT_NAME, ContentCapture, Mode, load_redactor, parse_mode
from app.services.llm.base import Endpoint, LLMOutput, LLMPermanentError, LLMRequest, Usage
from app.services.llm.limiter import ConcurrencyLimiter
from app.services.llm.offline import OfflineProvider
from instrumentation import Telemetry

TEXT = "Jane Roe wrote: the deploy at https://ops:hunter2@deploy.example.test/run?token=abc123 went well."
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


class Vendor:
    name = "openai"
    model = "gpt-test"
    endpoint = Endpoint("llm.example.test", 443)

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def run(self, request: LLMRequest) -> LLMOutput:
        if self.fail:
            raise LLMPermanentError("LLM sentiment answer is not a JSON object", usage=Usage(10, 2))
        return LLMOutput(usage=Usage(10, 2), model="gpt-test", result=f"Summary of {request.text[:8]}",
                         finish_reason="length")

    def messages(self, request: LLMRequest) -> tuple[str | None, str]:
        return "Summarize the user's text.", request.text

    async def aclose(self) -> None:
        return None


def client(telemetry: Telemetry, provider: object, content: ContentCapture,
           events: LoggerProvider | None = None) -> GenAIClient:
    return GenAIClient(provider, telemetry.tracer_provider.get_tracer("test"), telemetry.instruments,  # type: ignore[arg-type]
                       ConcurrencyLimiter(4, 0.0, telemetry.instruments), content,
                       events.get_logger("test") if events else None)


async def test_nothing_is_captured_by_default(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    await client(telemetry, Vendor(), ContentCapture()).run(LLMRequest("summarize", TEXT))
    (span,) = span_exporter.get_finished_spans()
    assert not [k for k in (span.attributes or {}) if k in CONTENT_KEYS]
    assert "Jane Roe" not in str(dict(span.attributes or {}))


async def test_span_only_puts_the_messages_on_the_span(telemetry: Telemetry,
                                                       span_exporter: InMemorySpanExporter) -> None:
    await client(telemetry, Vendor(), ContentCapture(Mode.SPAN_ONLY)).run(LLMRequest("summarize", TEXT))
    (span,) = span_exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "Summarize the user's text."}]
    (user,) = json.loads(str(attrs["gen_ai.input.messages"]))
    assert user["role"] == "user" and user["parts"][0]["content"].startswith("Jane Roe wrote")
    (answer,) = json.loads(str(attrs["gen_ai.output.messages"]))
    assert answer == {"role": "assistant", "finish_reason": "length",
                      "parts": [{"type": "text", "content": "Summary of Jane Roe"}]}


async def test_captured_text_is_masked_then_hooked_then_bounded(telemetry: Telemetry,
                                                               span_exporter: InMemorySpanExporter) -> None:
    capture = ContentCapture(Mode.SPAN_ONLY, max_chars=60, redactor=lambda t: t.replace("Jane Roe", "[name]"))
    await client(telemetry, Vendor(), capture).run(LLMRequest("summarize", TEXT))
    (span,) = span_exporter.get_finished_spans()
    (user,) = json.loads(str(dict(span.attributes or {})["gen_ai.input.messages"]))
    content = user["parts"][0]["content"]
    assert "hunter2" not in content and "abc123" not in content and "Jane Roe" not in content
    assert content.startswith("[name] wrote") and "more characters not captured" in content
    assert len(content.split("...[")[0]) == 60


async def test_event_only_emits_one_record_in_the_calls_trace(telemetry: Telemetry,
                                                              span_exporter: InMemorySpanExporter) -> None:
    logs = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    await client(telemetry, OfflineProvider(), ContentCapture(Mode.EVENT_ONLY), provider).run(
        LLMRequest("qa", TEXT, question="Who wrote?"))
    (span,) = span_exporter.get_finished_spans()
    assert not [k for k in (span.attributes or {}) if k in CONTENT_KEYS]  # events only
    (record,) = (r.log_record for r in logs.get_finished_logs())
    assert record.event_name == EVENT_NAME
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    attrs = dict(record.attributes or {})
    assert attrs["gen_ai.provider.name"] == "offline" and "gen_ai.system_instructions" not in attrs
    (user,) = attrs["gen_ai.input.messages"]  # type: ignore[misc]
    assert user["parts"][0]["content"].startswith("Who wrote?")  # type: ignore[index]
    provider.shutdown()


async def test_a_failed_call_captures_its_input_only(telemetry: Telemetry,
                                                     span_exporter: InMemorySpanExporter) -> None:
    with pytest.raises(LLMPermanentError):
        await client(telemetry, Vendor(fail=True), ContentCapture(Mode.SPAN_AND_EVENT)).run(
            LLMRequest("sentiment", TEXT))
    (span,) = span_exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert "gen_ai.input.messages" in attrs and "gen_ai.output.messages" not in attrs


def test_modes_are_read_as_the_official_utility_reads_them(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_mode("") is Mode.NO_CONTENT
    assert parse_mode("span_and_event") is Mode.SPAN_AND_EVENT
    with caplog.at_level(logging.WARNING):
        assert parse_mode("true") is Mode.NO_CONTENT  # a guess is no opt-in
    assert "NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT" in caplog.text


def test_a_redactor_hook_must_name_a_callable() -> None:
    assert load_redactor("") is None
    hook = load_redactor("instrumentation.redact:redact_text")
    assert hook is not None and "hunter2" not in hook(TEXT)
    with pytest.raises(ValueError, match="names no callable"):
        load_redactor("instrumentation.redact:MASK")
