"""The offline provider does real, deterministic work on the text."""

from __future__ import annotations

import pytest

from app.services.llm.base import LLMOutput, LLMRequest, Operation
from app.services.llm.offline import OfflineProvider, analyze_sentiment
from app.services.llm.text import sentences

ARTICLE = (
    "Solar power capacity grew by forty percent last year across Europe. "
    "Germany and Spain installed the most solar panels, driven by falling panel prices. "
    "Grid operators warn that storage must keep pace with solar growth. "
    "Battery storage projects doubled in Germany as a result. "
    "Meanwhile, coal consumption declined for the third year in a row. "
    "The headquarters of the European solar association is located in Brussels. "
    "Analysts expect solar capacity to grow again next year if panel prices stay low."
)


@pytest.fixture
def provider() -> OfflineProvider:
    return OfflineProvider()


async def run(provider: OfflineProvider, operation: Operation, text: str = ARTICLE, question: str | None = None,
              options: dict[str, object] | None = None) -> LLMOutput:
    return await provider.run(LLMRequest(operation, text, question, options or {}))


async def test_summary_is_made_of_the_text_sentences_within_max_length(provider: OfflineProvider) -> None:
    out = await run(provider, "summarize", options={"max_length": 40})
    assert out.result
    assert len(out.result.split()) <= 40
    for sentence in sentences(out.result):
        assert sentence in ARTICLE, sentence
    assert "solar" in out.result.lower()  # the text's dominant topic
    assert out.result != ARTICLE


async def test_summary_follows_the_text_order(provider: OfflineProvider) -> None:
    out = await run(provider, "summarize", options={"max_length": 60})
    positions = [ARTICLE.index(s) for s in sentences(out.result)]
    assert positions == sorted(positions)


async def test_short_max_length_truncates(provider: OfflineProvider) -> None:
    out = await run(provider, "summarize", options={"max_length": 10})
    assert len(out.result.split()) <= 10
    assert out.result.split()[0] in ARTICLE


@pytest.mark.parametrize("text, expected", [
    ("I love this product. It is excellent, fast and reliable, and the support was great.", "positive"),
    ("This is terrible. The app crashed twice, support was awful and the update is broken.", "negative"),
    ("The meeting is scheduled for Tuesday at ten in the main office on the second floor.", "neutral"),
    ("Honestly the food was not bad at all.", "positive"),
    ("The new version is not good.", "negative"),
    ("It never fails and has no problems.", "positive"),
])
def test_sentiment_on_clear_examples(text: str, expected: str) -> None:
    result = analyze_sentiment(text)
    assert result.sentiment == expected, result.explanation
    assert 0.0 <= result.confidence <= 1.0
    assert result.explanation


async def test_sentiment_through_the_provider(provider: OfflineProvider) -> None:
    out = await run(provider, "sentiment", "What a wonderful, impressive release. I love it.")
    assert out.sentiment is not None
    assert out.sentiment.sentiment == "positive"
    assert out.result == "positive"
    assert out.sentiment.confidence > 0.5


def test_stronger_text_is_more_confident() -> None:
    mild = analyze_sentiment("The release is good but the setup is a long and complicated process for many teams.")
    strong = analyze_sentiment("Great, excellent, amazing!")
    assert strong.confidence > mild.confidence


async def test_qa_picks_the_sentence_that_answers(provider: OfflineProvider) -> None:
    out = await run(provider, "qa", question="Where is the headquarters of the solar association located?")
    assert out.result == "The headquarters of the European solar association is located in Brussels."
    out = await run(provider, "qa", question="What happened to coal consumption?")
    assert out.result == "Meanwhile, coal consumption declined for the third year in a row."


async def test_qa_without_an_answer_says_so(provider: OfflineProvider) -> None:
    out = await run(provider, "qa", question="Quantum entanglement teleportation?")
    assert out.result is not None
    assert out.result not in ARTICLE


async def test_key_points_come_from_the_text(provider: OfflineProvider) -> None:
    out = await run(provider, "key_points", options={"max_points": 3})
    assert out.key_points is not None
    assert 1 <= len(out.key_points) <= 3
    for point in out.key_points:
        assert point.removesuffix("...") in ARTICLE


async def test_questions_are_about_the_text(provider: OfflineProvider) -> None:
    out = await run(provider, "questions", options={"num_questions": 4})
    assert out.questions is not None
    assert 1 <= len(out.questions) <= 4
    text_words = set(ARTICLE.lower().replace(",", " ").replace(".", " ").split())
    for question in out.questions:
        assert question.endswith("?")
        assert set(question.lower().rstrip("?").split()) & (text_words - {"the", "of", "is", "to", "in"}), question
    assert len(set(out.questions)) == len(out.questions)


@pytest.mark.parametrize("operation", ["summarize", "sentiment", "key_points", "questions", "qa"])
async def test_no_token_counts_unless_estimates_are_on(provider: OfflineProvider, operation: Operation) -> None:
    question = "Where is the headquarters?" if operation == "qa" else None
    out = await run(provider, operation, question=question)
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.estimated) == (None, None, ())
    assert out.model == provider.model
    estimated = await run(OfflineProvider(estimate_tokens=True), operation, question=question)
    assert estimated.usage.input_tokens and estimated.usage.input_tokens > 0
    assert estimated.usage.output_tokens and estimated.usage.output_tokens > 0
    assert estimated.usage.estimated == ("input", "output")


async def test_deterministic(provider: OfflineProvider) -> None:
    assert await run(provider, "summarize") == await run(provider, "summarize")


async def test_longer_input_is_estimated_at_more_tokens() -> None:
    provider = OfflineProvider(estimate_tokens=True)
    short = await run(provider, "sentiment", "Good product.")
    long = await run(provider, "sentiment", ARTICLE)
    assert (long.usage.input_tokens or 0) > (short.usage.input_tokens or 0) > 0
