"""A provider for any OpenAI-compatible Chat Completions API, over HTTPX.

One prompt per operation; the answer is parsed into ``LLMOutput``. Failures are mapped onto the
exception hierarchy of ``base``: timeouts, connection errors, 429 and 5xx are transient (429 as
``RateLimitedError`` carrying ``Retry-After``); other 4xx and unreadable answers are permanent.
Neither the prompt nor the API key ever goes into an exception message.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from app.services.llm.base import (
    Chunk,
    Endpoint,
    LLMError,
    LLMOutput,
    LLMPermanentError,
    LLMRequest,
    LLMTransientError,
    SentimentResult,
    Usage,
)
from app.services.llm.text import int_option, with_estimates

_EXCERPT_CHARS = 200
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # a vendor's code, never free text: error.type stays bounded
_BULLET = re.compile(r"^\s*(?:[-*\u2022]\s+|\d+[.)]\s+)")
_SENTIMENTS: dict[str, Literal["positive", "negative", "neutral"]] = {
    "positive": "positive", "negative": "negative", "neutral": "neutral"}


class RateLimitedError(LLMTransientError):
    """HTTP 429; ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None, error_type: str | None = None) -> None:
        super().__init__(message, error_type=error_type)
        self.retry_after = retry_after


class OpenAICompatibleProvider:
    name = "openai"
    temperature = 0.2
    max_tokens = 1024

    def __init__(self, base_url: str, model: str, api_key: str, timeout_s: float,
                 client: httpx.AsyncClient | None = None, estimate_tokens: bool = False) -> None:
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.estimate_tokens = estimate_tokens
        url = httpx.URL(self.url)
        self.endpoint = Endpoint(address=url.host or None, port=url.port or (443 if url.scheme == "https" else 80),
                                 temperature=self.temperature, max_tokens=self.max_tokens)
        self._api_key = api_key
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        self.client = client if client is not None else httpx.AsyncClient(timeout=self._timeout)

    async def run(self, request: LLMRequest) -> LLMOutput:
        system, user = build_prompt(request)
        try:
            response = await self.client.post(self.url, json=self._body(system, user), headers=self._headers(),
                                              timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        return self._completion(request, system + user, response)

    async def stream(self, request: LLMRequest) -> AsyncGenerator[Chunk, None]:
        """The Chat Completions stream, usage included (``stream_options.include_usage``). A vendor
        that answers with a whole completion instead is taken as one chunk."""
        system, user = build_prompt(request)
        body = {**self._body(system, user), "stream": True, "stream_options": {"include_usage": True}}
        seen = _Streamed()
        try:
            async with self.client.stream("POST", self.url, json=body, headers=self._headers(),
                                          timeout=self._timeout) as response:
                if response.status_code >= 400 or not is_event_stream(response):
                    await response.aread()
                    output = self._completion(request, system + user, response)
                    # the whole answer at once: one chunk with no text of its own, then the answer
                    yield Chunk(model=output.model, response_id=output.response_id, usage=output.usage)
                    yield Chunk(output=output)
                    return
                async for line in response.aiter_lines():
                    data = sse_data(line)
                    if data == "[DONE]":
                        seen.done = True
                        break
                    if data is not None:
                        chunk = stream_chunk(data)
                        seen.add(chunk)
                        yield chunk
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, seen.usage) from exc
        except LLMError as exc:
            exc.usage = exc.usage or seen.usage
            raise
        if not seen.done and seen.finish_reason is None:
            # no code and no exception underneath: the conventions' fallback value
            raise LLMTransientError("LLM stream ended before the answer was complete", error_type="_OTHER",
                                    usage=seen.usage)
        yield Chunk(output=self._output(request, system + user, "".join(seen.text), seen.usage or Usage(), {
            "finish_reason": seen.finish_reason, "response_id": seen.response_id, "model": seen.model or self.model}))

    def _completion(self, request: LLMRequest, prompt: str, response: httpx.Response) -> LLMOutput:
        """The answer of a whole (not streamed) completion."""
        data = self._json(response)
        usage = reported_usage(data)
        try:
            content, finish_reason = _first_choice(data)
        except LLMError as exc:
            exc.usage = usage  # the vendor answered: the tokens it reported were spent all the same
            raise
        return self._output(request, prompt, content, usage, {"finish_reason": finish_reason,
                            "response_id": _text(data, "id"), "model": _text(data, "model") or self.model})

    def _output(self, request: LLMRequest, prompt: str, content: str, reported: Usage,
                meta: dict[str, Any]) -> LLMOutput:
        try:
            usage = with_estimates(reported, prompt, content, self.estimate_tokens)
            return self._parse(request, content, {"usage": usage, **meta})
        except LLMError as exc:
            exc.usage = reported
            raise

    def _parse(self, request: LLMRequest, content: str, out: dict[str, Any]) -> LLMOutput:
        if request.operation == "sentiment":
            sentiment = parse_sentiment(content)
            return LLMOutput(sentiment=sentiment, result=sentiment.sentiment, **out)
        if request.operation == "key_points":
            limit = int_option(request.options, "max_points", 5, 1, 20)
            return LLMOutput(key_points=parse_lines(content)[:limit], **out)
        if request.operation == "questions":
            limit = int_option(request.options, "num_questions", 5, 1, 20)
            return LLMOutput(questions=parse_lines(content)[:limit], **out)
        return LLMOutput(result=content.strip(), **out)

    def messages(self, request: LLMRequest) -> tuple[str | None, str]:
        return build_prompt(request)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    def _body(self, system: str, user: str) -> dict[str, Any]:
        return {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _transport_error(self, exc: httpx.HTTPError, usage: Usage | None = None) -> LLMError:
        if isinstance(exc, httpx.TimeoutException):
            return LLMTransientError(f"LLM request timed out ({type(exc).__name__})", usage=usage)
        if isinstance(exc, httpx.TransportError):
            return LLMTransientError(self._redact(f"LLM connection failed ({type(exc).__name__}: {exc})"), usage=usage)
        return LLMPermanentError(self._redact(f"LLM request failed ({type(exc).__name__}: {exc})"), usage=usage)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object; an error status or anything else raises."""
        status = response.status_code
        if status >= 400:
            message = f"LLM API returned HTTP {status}: {self._excerpt(response)}"
            code = error_code(response)
            if status == 429:
                raise RateLimitedError(message, parse_retry_after(response.headers.get("retry-after")), code)
            if status >= 500:
                raise LLMTransientError(message, error_type=code)
            raise LLMPermanentError(message, error_type=code)
        try:
            data = response.json()
        except ValueError:
            raise LLMPermanentError(
                f"LLM API returned a body that is not JSON (HTTP {status}): {self._excerpt(response)}"
            ) from None
        if not isinstance(data, dict):
            raise LLMPermanentError(f"LLM API returned JSON that is not an object (HTTP {status})")
        return data

    def _redact(self, message: str) -> str:
        return message.replace(self._api_key, "[REDACTED]") if self._api_key else message

    def _excerpt(self, response: httpx.Response) -> str:
        """At most 200 characters of the body, whitespace collapsed, the API key removed."""
        text = " ".join(self._redact(response.text).split())
        return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS - 3] + "..."


def build_prompt(request: LLMRequest) -> tuple[str, str]:
    """The (system, user) messages for one operation."""
    op, options = request.operation, request.options
    if op == "summarize":
        words = int_option(options, "max_length", 100, 10, 500)
        return (f"Summarize the user's text in at most {words} words. "
                "Reply with the summary only, without a preamble.", request.text)
    if op == "sentiment":
        return ('Classify the sentiment of the user\'s text. Reply with only a JSON object of the form '
                '{"sentiment": "positive" | "negative" | "neutral", "confidence": <number from 0 to 1>, '
                '"explanation": "<one short sentence>"}.', request.text)
    if op == "key_points":
        count = int_option(options, "max_points", 5, 1, 20)
        return (f"Extract at most {count} key points from the user's text. Write one point per line, "
                "with no preamble and no numbering.", request.text)
    if op == "questions":
        count = int_option(options, "num_questions", 5, 1, 20)
        return (f"Write {count} questions that the user's text answers. Write one question per line, "
                "with no preamble and no numbering.", request.text)
    return ("Answer the question using only the given text. If the text does not contain the answer, "
            "say so. Reply with the answer only.",
            f"Question: {request.question or ''}\n\nText:\n{request.text}")


def parse_sentiment(content: str) -> SentimentResult:
    """The sentiment JSON object, also inside ```json fences or surrounded by prose."""
    fenced = _FENCE.match(content)
    raw = fenced.group(1) if fenced else content
    found = _OBJECT.search(raw)
    try:
        data = json.loads(found.group(0) if found else raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise LLMPermanentError("LLM sentiment answer is not a JSON object")
    label = _SENTIMENTS.get(str(data.get("sentiment", "")).strip().lower())
    if label is None:
        raise LLMPermanentError("LLM sentiment answer has no valid 'sentiment' (positive|negative|neutral)")
    try:
        confidence = min(1.0, max(0.0, float(data.get("confidence", 0.5))))
    except (TypeError, ValueError):
        raise LLMPermanentError("LLM sentiment answer has a non-numeric 'confidence'") from None
    explanation = data.get("explanation", "")
    return SentimentResult(label, confidence, explanation if isinstance(explanation, str) else "")


def parse_lines(content: str) -> list[str]:
    """One item per non-empty line, bullets ("- ", "* ") and numbering ("1. ", "1) ") removed."""
    items = (_BULLET.sub("", line).strip() for line in content.splitlines())
    return [item for item in items if item]


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_code(response: httpx.Response) -> str:
    """The vendor's error code (``error.code``, else ``error.type`` of the OpenAI error body) when it
    is an identifier, else the HTTP status code."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return vendor_code(body) or str(response.status_code)


def vendor_code(body: object) -> str | None:
    """``error.code``, else ``error.type``, of an OpenAI error object, when it is an identifier."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for key in ("code", "type"):
            value = error.get(key)
            if isinstance(value, str) and _ERROR_CODE.fullmatch(value):
                return value
    return None


def is_event_stream(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip() == "text/event-stream"


def sse_data(line: str) -> str | None:
    """The payload of a server-sent event's ``data:`` line; ``None`` for any other line (blank lines,
    ``event:``, ``id:``, comments). OpenAI's events are one data line each."""
    if not line.startswith("data:"):
        return None
    return line[5:].strip()


def stream_chunk(data: str) -> Chunk:
    """One ``chat.completion.chunk``; an error event (``{"error": ...}``) raises ``LLMTransientError``."""
    try:
        event = json.loads(data)
    except ValueError:
        raise LLMPermanentError("LLM stream sent an event that is not JSON") from None
    if not isinstance(event, dict):
        raise LLMPermanentError("LLM stream sent JSON that is not an object")
    if "error" in event:
        raise LLMTransientError("LLM stream reported an error", error_type=vendor_code(event))
    choices = event.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else None
    finish = choice.get("finish_reason")
    return Chunk(text=text if isinstance(text, str) else "", model=_text(event, "model"),
                 response_id=_text(event, "id"), finish_reason=finish if isinstance(finish, str) and finish else None,
                 usage=reported_usage(event) if isinstance(event.get("usage"), dict) else None)


@dataclass
class _Streamed:
    """What a stream has delivered so far: its text, and the last word of each of its metadata."""

    text: list[str] = field(default_factory=list)
    model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    done: bool = False  # the [DONE] event came

    def add(self, chunk: Chunk) -> None:
        self.text.append(chunk.text)
        self.model = chunk.model or self.model
        self.response_id = chunk.response_id or self.response_id
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.usage = chunk.usage or self.usage


def reported_usage(data: dict[str, Any]) -> Usage:
    """The counts the answer's ``usage`` holds (cached prompt and reasoning tokens included), ``None``
    for each one it does not."""
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Usage(input_tokens=_count(usage, "prompt_tokens"), output_tokens=_count(usage, "completion_tokens"),
                 cache_read_input_tokens=_count(usage.get("prompt_tokens_details"), "cached_tokens"),
                 reasoning_output_tokens=_count(usage.get("completion_tokens_details"), "reasoning_tokens"))


def _count(section: object, key: str) -> int | None:
    value = section.get(key) if isinstance(section, dict) else None
    # bool is an int in Python; a count is neither negative nor true/false
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _first_choice(data: dict[str, Any]) -> tuple[str, str | None]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMPermanentError("LLM API answer has no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise LLMPermanentError("LLM API answer has no message content")
    finish_reason = choices[0].get("finish_reason")
    return content, finish_reason if isinstance(finish_reason, str) and finish_reason else None

