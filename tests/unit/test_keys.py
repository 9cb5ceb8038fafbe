"""Cache keys and TTLs: one digest of operation, text, options and question."""

from __future__ import annotations

import hashlib

import pytest

from app.cache.keys import cache_key, operation_of, ttl_for

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


@pytest.mark.parametrize("text", [TEXT, "word " * 1000, "a" * 1000])
def test_no_user_text_in_a_key(text: str) -> None:
    key = cache_key("qa", text, {"style": "secret-style"}, question="Who is the secret?")
    assert text.strip() not in key and "secret" not in key
    assert len(key) < 100
    assert key == cache_key("qa", text, {"style": "secret-style"}, question="Who is the secret?")


def test_a_text_that_spells_another_key_does_not_share_it() -> None:
    """The first version kept short texts verbatim and long ones as ``hash:<digest>``: a short text
    spelling that got the long text's key, and its answer was served to the other client."""

    victim = "word " * 1000
    spelled = f"hash:{hashlib.sha256(victim.encode()).hexdigest()[:32]}"
    assert cache_key("summarize", spelled) != cache_key("summarize", victim)
    assert cache_key("summarize", victim, {"q": "x"}) != cache_key("summarize", victim + "x")
    # Moving characters between inputs makes another request, and another key.
    assert cache_key("qa", "ab", question="c") != cache_key("qa", "a", question="bc")
    assert cache_key("qa", TEXT, question="") == cache_key("qa", TEXT)


def test_the_operation_is_read_back_from_a_key_of_either_version() -> None:
    assert operation_of(cache_key("key_points", TEXT)) == "key_points"
    assert operation_of("ai_cache|op:qa|txt:an old key|opts:0123") == "qa"
    assert operation_of("other|v2|op:qa|00") is None


def test_keys_share_one_prefix() -> None:
    assert cache_key("qa", TEXT, question="Why?").startswith("ai_cache|v2|op:qa|")


@pytest.mark.parametrize("operation, seconds", [
    ("summarize", 2 * 3600), ("sentiment", 24 * 3600), ("key_points", 2 * 3600),
    ("questions", 3600), ("qa", 30 * 60),
])
def test_ttl_per_operation(operation: str, seconds: int) -> None:
    assert ttl_for(operation) == seconds
