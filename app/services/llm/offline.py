"""The offline provider: deterministic, dependency-free, and doing real work on the text.

It is the default so that ``make run`` answers without a vendor key: extractive summaries, a lexicon
sentiment with negation and confidence, key points, questions and answers found in the text.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from dataclasses import asdict
from typing import Literal

from app.services.llm.base import Chunk, Endpoint, LLMOutput, LLMRequest, SentimentResult, Usage
from app.services.llm.text import (
    content_words,
    int_option,
    rank_sentences,
    sentences,
    with_estimates,
    words,
)

POSITIVE = frozenset("""
good great excellent amazing wonderful fantastic love loved loves like liked enjoy enjoyed happy
glad pleased best better positive success successful benefit benefits improve improved improvement
effective efficient helpful reliable fast easy impressive beautiful brilliant outstanding perfect
recommend strong win wins won gain gains growth profit delighted satisfied superb exciting
innovative robust smooth
""".split())
NEGATIVE = frozenset("""
bad poor terrible awful horrible hate hated hates dislike disappointed disappointing sad angry worse
worst negative fail failed fails failure problem problems issue issues bug bugs broken slow
difficult hard weak loss losses decline declined risk risks crash crashed error errors expensive
useless annoying unreliable frustrating painful damage harmful concern concerns outage delay delayed
wrong
""".split())
_PIECE = re.compile(r"\s*\S+")  # a streamed chunk: one word with the space before it

NEGATIONS = frozenset("""
not no never none nothing neither nor without hardly isn't wasn't don't doesn't didn't can't cannot
won't aren't weren't
""".split())


class OfflineProvider:
    """Counts no tokens (it has no tokenizer): usage is reported only as estimates, when opted in."""

    name = "offline"
    endpoint = Endpoint()  # in process: no server, no sampling parameters

    def __init__(self, model: str = "offline-extractive-1", estimate_tokens: bool = False) -> None:
        self.model = model
        self.estimate_tokens = estimate_tokens

    async def run(self, request: LLMRequest) -> LLMOutput:
        op = request.operation
        if op == "summarize":
            return self._out(request, result=summarize(request.text, int_option(
                request.options, "max_length", 100, 10, 500)))
        if op == "sentiment":
            sentiment = analyze_sentiment(request.text)
            return self._out(request, sentiment=sentiment, result=sentiment.sentiment)
        if op == "key_points":
            points = key_points(request.text, int_option(request.options, "max_points", 5, 1, 20))
            return self._out(request, key_points=points)
        if op == "questions":
            qs = questions(request.text, int_option(request.options, "num_questions", 5, 1, 20))
            return self._out(request, questions=qs)
        return self._out(request, result=answer(request.text, request.question or ""))

    async def stream(self, request: LLMRequest) -> AsyncGenerator[Chunk, None]:
        """The answer word by word, as the text a model would have written (``answer_text``), then
        the answer itself. Each chunk gives the event loop a turn, as a vendor's would."""
        output = await self.run(request)
        for piece in _PIECE.findall(answer_text(output)):
            yield Chunk(text=piece, model=self.model)
            await asyncio.sleep(0)
        yield Chunk(output=output)

    def messages(self, request: LLMRequest) -> tuple[str | None, str]:
        # no prompt: the text (and the question) is the whole input
        return None, request.text if request.question is None else f"{request.question}\n\n{request.text}"

    async def aclose(self) -> None:
        return None

    def _out(self, request: LLMRequest, **fields: object) -> LLMOutput:
        produced = " ".join(str(v) for v in fields.values() if v is not None)
        prompt = request.text + (request.question or "")
        usage = with_estimates(Usage(), prompt, produced, self.estimate_tokens)
        # "stop" is true here: the extractive answer is always complete, never cut at a limit
        return LLMOutput(usage=usage, model=self.model, finish_reason="stop", **fields)  # type: ignore[arg-type]


def answer_text(output: LLMOutput) -> str:
    """The answer as the text a model answering the OpenAI provider's prompt writes: the summary or
    answer, the sentiment's JSON object, one point or question per line."""
    if output.sentiment is not None:
        return json.dumps(asdict(output.sentiment))
    items = output.key_points if output.key_points is not None else output.questions
    return "\n".join(items) if items is not None else output.result or ""


def summarize(text: str, max_words: int) -> str:
    """The best-ranked sentences, in their original order, within ``max_words``."""
    chosen: list[tuple[int, str]] = []
    budget = max_words
    for _score, index, sentence in rank_sentences(text):
        length = len(sentence.split())
        if chosen and length > budget:
            continue
        chosen.append((index, sentence))
        budget -= length
        if budget <= 0:
            break
    summary = " ".join(s for _i, s in sorted(chosen))
    tokens = summary.split()
    return summary if len(tokens) <= max_words else " ".join(tokens[:max_words]) + "..."


def analyze_sentiment(text: str) -> SentimentResult:
    pos: list[str] = []
    neg: list[str] = []
    tokens = words(text)
    for i, word in enumerate(tokens):
        negated = any(t in NEGATIONS for t in tokens[max(0, i - 3):i])
        if word in POSITIVE:
            (neg if negated else pos).append(word)
        elif word in NEGATIVE:
            (pos if negated else neg).append(word)
    hits = len(pos) + len(neg)
    if hits == 0:
        return SentimentResult("neutral", 0.5, "No sentiment-bearing words were found.")
    balance = (len(pos) - len(neg)) / hits
    coverage = min(1.0, hits / max(1, len(tokens)) * 10)
    label: Literal["positive", "negative", "neutral"]
    if abs(balance) < 0.2:
        label = "neutral"
        confidence = 0.5 + 0.3 * coverage * (1 - abs(balance) / 0.2)
    else:
        label = "positive" if balance > 0 else "negative"
        confidence = 0.5 + 0.5 * abs(balance) * (0.5 + 0.5 * coverage)
    shown = ", ".join(sorted(set(pos))[:5]) or "none"
    shown_neg = ", ".join(sorted(set(neg))[:5]) or "none"
    return SentimentResult(label, round(min(confidence, 0.99), 3),
                           f"{len(pos)} positive cue(s) ({shown}) and {len(neg)} negative cue(s) "
                           f"({shown_neg}).")


def key_points(text: str, limit: int) -> list[str]:
    ranked = rank_sentences(text)[:limit]
    return [_shorten(s, 25) for _score, _i, s in sorted(ranked, key=lambda r: r[1])]


def questions(text: str, limit: int) -> list[str]:
    result: list[str] = []
    seen: set[str] = set()
    for _score, _index, sentence in rank_sentences(text):
        terms = [w for w in content_words(sentence) if w not in seen]
        if not terms:
            continue
        topic = terms[0]
        seen.add(topic)
        templates = (f"What does the text say about {topic}?", f"Why is {topic} important here?",
                     f"How does {topic} relate to the rest of the text?")
        result.append(templates[len(result) % len(templates)])
        if len(result) >= limit:
            break
    return result or ["What is the main point of the text?"]


def answer(text: str, question: str) -> str:
    """The sentence of the text that shares the most content words with the question."""
    wanted = set(content_words(question))
    best, best_score = "", 0.0
    for sentence in sentences(text):
        have = set(content_words(sentence))
        score = len(wanted & have) / (len(have) ** 0.25 if have else 1)
        if score > best_score:
            best, best_score = sentence, score
    return best if best else "The text does not contain an answer to this question."


def _shorten(sentence: str, max_words: int) -> str:
    tokens = sentence.split()
    return sentence if len(tokens) <= max_words else " ".join(tokens[:max_words]) + "..."
