"""OpenAICompatibleProvider against a real local HTTP server speaking the Chat Completions protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.services.llm.base import LLMError, LLMPermanentError, LLMRequest, LLMTransientError
from app.services.llm.openai_compat import (
    OpenAICompatibleProvider,
    RateLimitedError,
    parse_lines,
    parse_retry_after,
    parse_sentiment,
)
from app.services.llm.text import estimate_tokens
from tests.fakes.openai_server import FakeOpenAI, Mode, closed_port_url

KEY = "sk-test-7f3a9c1e5b2d"
TEXT = ("The new release is great and the team is happy. Startup is fast and reliable. "
        "Users love the simpler setup. Documentation still has a problem with examples.")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAICompatibleProvider]:
    p = OpenAICompatibleProvider(fake.base_url, "test-model", KEY, timeout_s=2.0)
    yield p
    await p.aclose()


def _usage_of(fake: FakeOpenAI) -> tuple[int, int]:
    response = fake.last.response
    assert response is not None
    return response["usage"]["prompt_tokens"], response["usage"]["completion_tokens"]


async def test_summarize(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    out = await provider.run(LLMRequest("summarize", TEXT, options={"max_length": 30}))
    assert out.result == "The new release is great and the team is happy."
    assert out.model == "test-model-fake"
    assert out.finish_reason == "stop"
    assert (out.usage.input_tokens, out.usage.output_tokens) == _usage_of(fake)
    body = fake.last.body
    assert fake.last.path == "/v1/chat/completions"
    assert body["model"] == "test-model"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "30 words" in body["messages"][0]["content"]
    assert body["messages"][1]["content"] == TEXT
    assert {"temperature", "max_tokens"} <= body.keys()


async def test_sentiment(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    out = await provider.run(LLMRequest("sentiment", TEXT))
    assert out.sentiment is not None
    assert out.sentiment.sentiment == "positive" == out.result
    assert 0.5 < out.sentiment.confidence <= 1.0
    assert "positive" in out.sentiment.explanation
    assert (out.usage.input_tokens, out.usage.output_tokens) == _usage_of(fake)


async def test_sentiment_in_json_fences(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.reply = '```json\n{"sentiment": "Negative", "confidence": 1.7, "explanation": "bad"}\n```'
    out = await provider.run(LLMRequest("sentiment", TEXT))
    assert out.sentiment is not None
    assert (out.sentiment.sentiment, out.sentiment.confidence) == ("negative", 1.0)


@pytest.mark.parametrize("reply", ["I think it is positive.", '{"sentiment": "ecstatic"}', "[1, 2]"])
async def test_unparseable_sentiment_is_permanent(fake: FakeOpenAI, provider: OpenAICompatibleProvider,
                                                  reply: str) -> None:
    fake.reply = reply
    with pytest.raises(LLMPermanentError, match="sentiment"):
        await provider.run(LLMRequest("sentiment", TEXT))


async def test_key_points(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    out = await provider.run(LLMRequest("key_points", TEXT, options={"max_points": 3}))
    assert out.key_points == ["The new release is great and the team is happy.",
                              "Startup is fast and reliable.", "Users love the simpler setup."]
    assert "one point per line" in fake.last.body["messages"][0]["content"]
    assert (out.usage.input_tokens, out.usage.output_tokens) == _usage_of(fake)


async def test_questions(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    out = await provider.run(LLMRequest("questions", TEXT, options={"num_questions": 2}))
    assert out.questions == ["What does the text say about release?",
                             "What does the text say about great?"]
    assert out.model == "test-model-fake"


async def test_list_is_cut_to_the_requested_count(fake: FakeOpenAI,
                                                  provider: OpenAICompatibleProvider) -> None:
    fake.reply = "Here they are:\n\n1. one\n2) two\n* three\n- four\n"
    out = await provider.run(LLMRequest("key_points", TEXT, options={"max_points": 3}))
    assert out.key_points == ["Here they are:", "one", "two"]


async def test_qa(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    out = await provider.run(LLMRequest("qa", TEXT, question="Is startup fast?"))
    assert out.result == "The new release is great and the team is happy."
    user = fake.last.body["messages"][1]["content"]
    assert "Is startup fast?" in user and TEXT in user


async def test_missing_usage_is_not_invented(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.include_usage = False
    out = await provider.run(LLMRequest("summarize", TEXT))
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.estimated) == (None, None, ())


async def test_missing_usage_is_estimated_when_opted_in_and_says_so(fake: FakeOpenAI) -> None:
    fake.include_usage = False
    provider = OpenAICompatibleProvider(fake.base_url, "test-model", KEY, timeout_s=2.0, estimate_tokens=True)
    try:
        out = await provider.run(LLMRequest("summarize", TEXT))
    finally:
        await provider.aclose()
    system, user = (m["content"] for m in fake.last.body["messages"])
    assert out.usage.input_tokens == estimate_tokens(system + user)
    assert out.usage.output_tokens == estimate_tokens(out.result or "")
    assert out.usage.estimated == ("input", "output")


async def test_reported_usage_is_never_marked_estimated(fake: FakeOpenAI) -> None:
    provider = OpenAICompatibleProvider(fake.base_url, "test-model", KEY, timeout_s=2.0, estimate_tokens=True)
    try:
        out = await provider.run(LLMRequest("summarize", TEXT))
    finally:
        await provider.aclose()
    assert (out.usage.input_tokens, out.usage.output_tokens) == _usage_of(fake)
    assert out.usage.estimated == ()


async def test_cached_and_reasoning_tokens_and_response_id(fake: FakeOpenAI,
                                                           provider: OpenAICompatibleProvider) -> None:
    fake.cached_tokens, fake.reasoning_tokens = 12, 7
    out = await provider.run(LLMRequest("summarize", TEXT))
    assert (out.usage.cache_read_input_tokens, out.usage.reasoning_output_tokens) == (12, 7)
    assert fake.last.response is not None and out.response_id == fake.last.response["id"]


async def test_finish_reason_is_passed_through(fake: FakeOpenAI,
                                               provider: OpenAICompatibleProvider) -> None:
    fake.finish_reason = "length"
    out = await provider.run(LLMRequest("summarize", TEXT))
    assert out.finish_reason == "length"


async def test_a_missing_finish_reason_stays_missing(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.finish_reason = None
    out = await provider.run(LLMRequest("summarize", TEXT))
    assert out.finish_reason is None


def test_endpoint_names_the_server_and_the_request_parameters() -> None:
    provider = OpenAICompatibleProvider("https://llm.example.test/v1", "m", "", timeout_s=1.0)
    assert provider.endpoint.address == "llm.example.test" and provider.endpoint.port == 443
    assert (provider.endpoint.temperature, provider.endpoint.max_tokens) == (0.2, 1024)
    assert OpenAICompatibleProvider("http://127.0.0.1:8081/v1", "m", "", 1.0).endpoint.port == 8081


@pytest.mark.parametrize(("mode", "code"), [("error500", "server_error"), ("error429", "rate_limit_exceeded"),
                                            ("error400", "invalid_request_error")])
async def test_the_vendors_error_code_is_kept(fake: FakeOpenAI, provider: OpenAICompatibleProvider,
                                              mode: Mode, code: str) -> None:
    fake.mode = mode
    with pytest.raises(LLMError) as caught:
        await provider.run(LLMRequest("summarize", TEXT))
    assert caught.value.error_type == code


async def test_an_error_body_without_a_code_gives_the_status(fake: FakeOpenAI,
                                                             provider: OpenAICompatibleProvider) -> None:
    fake.mode, fake.error_body = "error500", '{"error": {"message": "boom", "code": "not a code: quoted text"}}'
    with pytest.raises(LLMError) as caught:
        await provider.run(LLMRequest("summarize", TEXT))
    assert caught.value.error_type == "500"


async def test_an_answer_that_does_not_parse_keeps_its_reported_tokens(fake: FakeOpenAI,
                                                                      provider: OpenAICompatibleProvider) -> None:
    fake.reply = "I would rather not say."
    with pytest.raises(LLMPermanentError) as caught:
        await provider.run(LLMRequest("sentiment", TEXT))
    assert caught.value.usage is not None
    assert (caught.value.usage.input_tokens, caught.value.usage.output_tokens) == _usage_of(fake)


async def test_authorization_header(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    await provider.run(LLMRequest("summarize", TEXT))
    assert fake.last.headers["authorization"] == f"Bearer {KEY}"


async def test_no_authorization_header_without_key(fake: FakeOpenAI) -> None:
    provider = OpenAICompatibleProvider(fake.base_url, "test-model", "", timeout_s=2.0)
    try:
        await provider.run(LLMRequest("summarize", TEXT))
    finally:
        await provider.aclose()
    assert "authorization" not in fake.last.headers


async def test_500_is_transient(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.mode = "error500"
    with pytest.raises(LLMTransientError, match="HTTP 500") as caught:
        await provider.run(LLMRequest("summarize", TEXT))
    assert not isinstance(caught.value, RateLimitedError)
    assert "server_error" in str(caught.value)


async def test_429_is_rate_limited_with_retry_after(fake: FakeOpenAI,
                                                    provider: OpenAICompatibleProvider) -> None:
    fake.mode = "error429"
    fake.retry_after = "7"
    with pytest.raises(RateLimitedError, match="HTTP 429") as caught:
        await provider.run(LLMRequest("summarize", TEXT))
    assert isinstance(caught.value, LLMTransientError)
    assert caught.value.retry_after == 7.0


async def test_429_without_retry_after(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.mode = "error429"
    fake.retry_after = None
    with pytest.raises(RateLimitedError) as caught:
        await provider.run(LLMRequest("summarize", TEXT))
    assert caught.value.retry_after is None


async def test_400_is_permanent(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.mode = "error400"
    with pytest.raises(LLMPermanentError, match="HTTP 400"):
        await provider.run(LLMRequest("summarize", TEXT))


async def test_error_excerpt_is_short(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.mode = "error500"
    fake.error_body = "x" * 5000
    with pytest.raises(LLMTransientError) as caught:
        await provider.run(LLMRequest("summarize", TEXT))
    assert str(caught.value).count("x") <= 200


async def test_timeout_is_transient(fake: FakeOpenAI) -> None:
    fake.mode, fake.delay_s = "slow", 2.0
    provider = OpenAICompatibleProvider(fake.base_url, "test-model", KEY, timeout_s=0.2)
    try:
        with pytest.raises(LLMTransientError, match="timed out"):
            await provider.run(LLMRequest("summarize", TEXT))
    finally:
        await provider.aclose()


async def test_slow_within_timeout_succeeds(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.mode, fake.delay_s = "slow", 0.1
    out = await provider.run(LLMRequest("summarize", TEXT))
    assert out.result


async def test_connection_refused_is_transient() -> None:
    provider = OpenAICompatibleProvider(closed_port_url(), "test-model", KEY, timeout_s=2.0)
    try:
        with pytest.raises(LLMTransientError, match="connection failed"):
            await provider.run(LLMRequest("summarize", TEXT))
    finally:
        await provider.aclose()


async def test_server_closing_the_connection_is_transient(fake: FakeOpenAI,
                                                          provider: OpenAICompatibleProvider) -> None:
    fake.mode = "refuse"
    with pytest.raises(LLMTransientError):
        await provider.run(LLMRequest("summarize", TEXT))
    assert fake.calls == 1


@pytest.mark.parametrize("mode", ["garbage", "nochoices"])
async def test_unreadable_answer_is_permanent(fake: FakeOpenAI, provider: OpenAICompatibleProvider,
                                              mode: Mode) -> None:
    fake.mode = mode
    with pytest.raises(LLMPermanentError, match=r"not JSON|no choices"):
        await provider.run(LLMRequest("summarize", TEXT))


async def test_fail_next_then_ok(fake: FakeOpenAI, provider: OpenAICompatibleProvider) -> None:
    fake.fail_next(2, "error500")
    for _ in range(2):
        with pytest.raises(LLMTransientError):
            await provider.run(LLMRequest("summarize", TEXT))
    assert (await provider.run(LLMRequest("summarize", TEXT))).result
    assert fake.calls == 3
    assert [r.mode for r in fake.requests] == ["error500", "error500", "ok"]


@pytest.mark.parametrize("mode", ["error500", "error429", "error400", "garbage"])
async def test_api_key_never_in_exception_message(fake: FakeOpenAI, provider: OpenAICompatibleProvider,
                                                  mode: Mode) -> None:
    fake.mode = mode
    fake.error_body = f'{{"error": {{"message": "Incorrect API key provided: {KEY}"}}}}'
    fake.reply = f"echo {KEY}"
    if mode == "garbage":
        fake.error_body = None
    with pytest.raises(Exception) as caught:
        await provider.run(LLMRequest("sentiment", TEXT))
    chain: BaseException | None = caught.value
    while chain is not None:
        assert KEY not in str(chain) and KEY not in repr(chain)
        chain = chain.__cause__ or chain.__context__
    if mode != "garbage":
        assert "[REDACTED]" in str(caught.value)


async def test_prompt_never_in_exception_message(fake: FakeOpenAI,
                                                 provider: OpenAICompatibleProvider) -> None:
    fake.reply = "not json at all"
    with pytest.raises(LLMPermanentError) as caught:
        await provider.run(LLMRequest("sentiment", TEXT))
    assert TEXT[:20] not in str(caught.value)


async def test_aclose_leaves_a_given_client_open(fake: FakeOpenAI) -> None:
    async with httpx.AsyncClient() as client:
        provider = OpenAICompatibleProvider(fake.base_url, "test-model", KEY, 2.0, client=client)
        assert provider.client is client
        await provider.run(LLMRequest("summarize", TEXT))
        await provider.aclose()
        assert not client.is_closed
    owned = OpenAICompatibleProvider(fake.base_url, "test-model", KEY, 2.0)
    await owned.aclose()
    assert owned.client.is_closed


def test_parse_lines() -> None:
    assert parse_lines("- a\n* b\n\n1. c\n12) d\n  \n• e\nplain") == ["a", "b", "c", "d", "e", "plain"]


def test_parse_sentiment_with_prose_around() -> None:
    result = parse_sentiment('Sure! {"sentiment": "neutral", "confidence": "0.4"} Hope this helps.')
    assert (result.sentiment, result.confidence, result.explanation) == ("neutral", 0.4, "")


def test_parse_retry_after() -> None:
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None and 25 <= seconds <= 31
