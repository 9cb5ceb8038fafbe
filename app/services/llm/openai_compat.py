"""A provider for any OpenAI-compatible Chat Completions API, over HTTPX.

One prompt per operation; the answer is parsed into ``LLMOutput``. Failures are mapped onto the
exception hierarchy of ``base``: timeouts, connection errors, 429 and 5xx are transient (429 as
``RateLimitedError`` carrying ``Retry-After``); other 4xx and unreadable answers are permanent.
Neither the prompt nor the API key ever goes into an exception message.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from app.services.llm.base import (
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
        data = await self._complete(system, user)
        usage = reported_usage(data)
        try:
            content, finish_reason = _first_choice(data)
            usage = with_estimates(usage, system + user, content, self.estimate_tokens)
            return self._parse(request, content, {
                "usage": usage, "finish_reason": finish_reason, "response_id": _text(data, "id"),
                "model": _text(data, "model") or self.model})
        except LLMError as exc:
            exc.usage = usage  # the vendor answered: the tokens it reported were spent all the same
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

    async def _complete(self, system: str, user: str) -> dict[str, Any]:
        body = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = await self.client.post(self.url, json=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise LLMTransientError(f"LLM request timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise LLMTransientError(self._redact(f"LLM connection failed ({type(exc).__name__}: {exc})")
                                    ) from exc
        except httpx.HTTPError as exc:
            raise LLMPermanentError(self._redact(f"LLM request failed ({type(exc).__name__}: {exc})")
                                    ) from exc
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
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for key in ("code", "type"):
            value = error.get(key)
            if isinstance(value, str) and _ERROR_CODE.fullmatch(value):
                return value
    return str(response.status_code)


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

