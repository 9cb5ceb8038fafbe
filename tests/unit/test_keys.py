"""Cache keys and TTLs: operation + text (hashed when long) + options + question."""

from __future__ import annotations

import pytest

from app.cache.keys import TEXT_HASH_THRESHOLD, cache_key, ttl_for

TEXT = "The release went well and users are happy with the faster startup."


def test_same_inputs_same_key() -> None:
    assert cache_key("summarize", TEXT, {"max_length": 50}) == cache_key("summarize", TEXT, {"max_length": 50})


def test_options_order_is_irrelevant() -> None:
    a = cache_key("summarize", TEXT, {"max_length": 50, "style": "bullet"})
    b = cache_key("summarize", TEXT, {"style": "bullet", "max_length": 50})
    assert a == b


def test_no_options_and_empty_options_are_the_same() -> None:
    assert cache_key("sentiment", TEXT) == cache_key("sentiment", TEXT, {})


@pytest.mark.parametrize("other", [
    ("sentiment", TEXT, {"max_length": 50}),
    ("summarize", TEXT + " ", {"max_length": 50}),
    ("summarize", TEXT, {"max_length": 51}),
    ("summarize", TEXT, {"max_length": "50"}),
    ("summarize", TEXT, {}),
])
def test_any_input_changes_the_key(other: tuple[str, str, dict[str, object]]) -> None:
    assert cache_key("summarize", TEXT, {"max_length": 50}) != cache_key(*other)


def test_question_changes_the_key() -> None:
    a = cache_key("qa", TEXT, question="Who is happy?")
    b = cache_key("qa", TEXT, question="What went well?")
    assert a != b
    assert a != cache_key("qa", TEXT)
    assert a == cache_key("qa", TEXT, question="Who is happy?")


def test_long_text_is_hashed() -> None:
    long_text = "word " * 1000
    key = cache_key("summarize", long_text)
    assert long_text.strip() not in key
    assert len(key) < 200
    assert key == cache_key("summarize", long_text)
    assert key != cache_key("summarize", long_text + "x")


def test_short_text_stays_readable() -> None:
    assert TEXT in cache_key("summarize", TEXT)
    at_limit = "a" * TEXT_HASH_THRESHOLD
    assert at_limit in cache_key("summarize", at_limit)
    assert "a" * (TEXT_HASH_THRESHOLD + 1) not in cache_key("summarize", "a" * (TEXT_HASH_THRESHOLD + 1))


def test_keys_share_one_prefix() -> None:
    assert cache_key("qa", TEXT, question="Why?").startswith("ai_cache|")


@pytest.mark.parametrize("operation, seconds", [
    ("summarize", 2 * 3600), ("sentiment", 24 * 3600), ("key_points", 2 * 3600),
    ("questions", 3600), ("qa", 30 * 60),
])
def test_ttl_per_operation(operation: str, seconds: int) -> None:
    assert ttl_for(operation) == seconds
