"""Plain-text helpers shared by the providers: sentences, words, token estimates, option parsing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.services.llm.base import Usage

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_TOKEN = re.compile(r"\w+|[^\w\s]")

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves also may might must shall us many much one two new
""".split())


def sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE.split(text.strip()) if p.strip()]
    return parts or [text.strip()]


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 2]


def estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer counts: words and punctuation, long words split in pieces."""
    return sum(1 + len(t) // 8 for t in _TOKEN.findall(text))


def with_estimates(reported: Usage, prompt: str, completion: str, estimate: bool) -> Usage:
    """``reported`` unchanged, or, when the operator opted in to estimates, with each count the
    provider left out estimated from the text and named in ``Usage.estimated``."""
    if not estimate:
        return reported
    input_tokens, output_tokens = reported.input_tokens, reported.output_tokens
    estimated: list[str] = []
    if input_tokens is None:
        input_tokens = estimate_tokens(prompt)
        estimated.append("input")
    if output_tokens is None:
        output_tokens = estimate_tokens(completion)
        estimated.append("output")
    return replace(reported, input_tokens=input_tokens, output_tokens=output_tokens, estimated=tuple(estimated))


def rank_sentences(text: str) -> list[tuple[float, int, str]]:
    """Sentences scored by the document frequency of their content words, best first."""
    parts = sentences(text)
    freq = Counter(content_words(text))
    scored = []
    for index, sentence in enumerate(parts):
        terms = content_words(sentence)
        score = sum(freq[t] for t in terms) / (len(terms) ** 0.5) if terms else 0.0
        scored.append((score, index, sentence))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return scored


def int_option(options: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = options.get(name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))
