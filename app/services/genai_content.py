"""Opt-in capture of prompt and completion text, as ``opentelemetry-util-genai`` defines it.

``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` picks the mode: ``NO_CONTENT`` (the default:
no text anywhere), ``SPAN_ONLY`` (``gen_ai.system_instructions``, ``gen_ai.input.messages``,
``gen_ai.output.messages`` as JSON strings on the span), ``EVENT_ONLY`` (the same, structured, on a
``gen_ai.client.inference.operation.details`` log record in the request's trace) or
``SPAN_AND_EVENT``. Every captured text goes through the redaction (URLs with credentials and HTTP
credentials masked, then the operator's hook) and is cut at ``GENAI_CONTENT_MAX_CHARS``.
"""

from __future__ import annotations

import enum
import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.services.llm.base import LLMOutput
from instrumentation.redact import redact_text

_log = logging.getLogger(__name__)

EVENT_NAME = "gen_ai.client.inference.operation.details"

Redactor = Callable[[str], str]


class Mode(enum.Enum):
    NO_CONTENT = 0
    SPAN_ONLY = 1
    EVENT_ONLY = 2
    SPAN_AND_EVENT = 3


def parse_mode(value: str) -> Mode:
    """The mode a value names (case-insensitive); ``NO_CONTENT``, with a warning, for anything else
    (what the official utility does: a typo must not start capturing)."""
    text = value.strip()
    if not text:
        return Mode.NO_CONTENT
    try:
        return Mode[text.upper()]
    except KeyError:
        _log.warning("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=%r is not one of %s: "
                     "capturing no content", text, ", ".join(m.name for m in Mode))
        return Mode.NO_CONTENT


def load_redactor(path: str) -> Redactor | None:
    """``module:function`` (a ``str -> str`` callable), or ``None`` when no hook is set."""
    if not path:
        return None
    module, _, name = path.partition(":")
    hook = getattr(importlib.import_module(module), name or "redact", None)
    if not callable(hook):
        raise ValueError(f"GENAI_CONTENT_REDACTOR={path!r} names no callable (expected module:function)")
    return hook  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class ContentCapture:
    mode: Mode = Mode.NO_CONTENT
    max_chars: int = 4096
    redactor: Redactor | None = None

    @property
    def on_span(self) -> bool:
        return self.mode in (Mode.SPAN_ONLY, Mode.SPAN_AND_EVENT)

    @property
    def as_event(self) -> bool:
        return self.mode in (Mode.EVENT_ONLY, Mode.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        return self.mode is not Mode.NO_CONTENT

    def clean(self, text: str) -> str:
        text = redact_text(text)
        if self.redactor is not None:
            text = self.redactor(text)
        if len(text) <= self.max_chars:
            return text
        return f"{text[:self.max_chars]}...[{len(text) - self.max_chars} more characters not captured]"

    def messages(self, system: str | None, user: str, output: LLMOutput | None) -> dict[str, list[dict[str, Any]]]:
        """The conventions' structures: system instruction parts, input and output messages."""
        found: dict[str, list[dict[str, Any]]] = {
            "gen_ai.input.messages": [{"role": "user", "parts": [self._part(user)]}]}
        if system:
            found["gen_ai.system_instructions"] = [self._part(system)]
        if output is not None:
            message: dict[str, Any] = {"role": "assistant", "parts": [self._part(output_text(output))]}
            if output.finish_reason:
                message["finish_reason"] = output.finish_reason
            found["gen_ai.output.messages"] = [message]
        return found

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "text", "content": self.clean(text)}


def span_attributes(messages: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """On a span the structures are JSON strings (span attributes hold no maps)."""
    return {key: json.dumps(value, ensure_ascii=False, separators=(",", ":")) for key, value in messages.items()}


def output_text(output: LLMOutput) -> str:
    """The completion as the user got it: the text, the sentiment object, or one item per line."""
    if output.sentiment is not None:
        return json.dumps({"sentiment": output.sentiment.sentiment, "confidence": output.sentiment.confidence,
                           "explanation": output.sentiment.explanation})
    items = output.key_points if output.key_points is not None else output.questions
    if items is not None:
        return "\n".join(items)
    return output.result or ""
