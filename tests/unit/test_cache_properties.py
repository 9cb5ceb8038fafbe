"""Property-based tests (hypothesis) of what enters the cache: keys, and backups restored.

Keys: two requests share a key exactly when they are the same request. Backups: whatever a backup
holds, good entries come back byte for byte (their TTL bounded by their operation's), hostile ones
(too large once decompressed, bad zlib, bad base64, the wrong JSON shape) are left out and counted by
reason, and nothing raises. Example counts stay modest: these run with the unit suite.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cache import answer
from app.cache.backup import Backup, document, merge, restorable
from app.cache.codec import encode
from app.cache.keys import cache_key, operation_of, ttl_for
from app.services.llm.base import OPERATIONS
from app.services.models import ProcessResponse

LIMIT = 64 * 1024  # CACHE_MAX_VALUE_BYTES at its lowest: oversized values stay cheap to build
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- keys ------------------------------------------------------------------------------------------

# Every character, lone surrogates included (a JSON body can carry them); option values of types that
# never compare equal to one another (True == 1 in Python, but they are different requests).
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40)
option_values = st.one_of(st.none(), st.integers(), any_text, st.lists(st.integers(), max_size=3))
requests = st.tuples(st.sampled_from(OPERATIONS), any_text,
                     st.dictionaries(any_text, option_values, max_size=4), st.none() | any_text)


def same_request(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """The service's own notion: options as a mapping, no question and an empty one alike."""
    return a[:3] == b[:3] and (a[3] or None) == (b[3] or None)


@SETTINGS
@given(requests, requests)
def test_distinct_requests_get_distinct_keys(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    assert (cache_key(*a) == cache_key(*b)) == same_request(a, b)


@SETTINGS
@given(requests, st.data())
def test_changing_any_one_input_changes_the_key(a: tuple[Any, ...], data: st.DataObject) -> None:
    """The near misses independent draws seldom make: characters moved between text and question,
    one option added or changed, the text spelling another request's key or digest."""
    operation, text, options, question = a
    key = cache_key(*a)
    change = data.draw(st.sampled_from(["text", "move", "option", "question", "spell", "operation"]))
    if change == "text":
        b = (operation, text + data.draw(st.text(any_char, min_size=1, max_size=3)), options, question)
    elif change == "move":  # the question's first character joins the text
        moved = question or "?"
        b = (operation, text + moved[0], options, moved[1:] or None)
    elif change == "option":
        name = data.draw(any_text)
        b = (operation, text, {**options, name: data.draw(option_values)}, question)
        if b[2] == options:
            return
    elif change == "question":
        b = (operation, text, options, (question or "") + data.draw(st.text(min_size=1, max_size=3)))
    elif change == "spell":
        b = (operation, data.draw(st.sampled_from([key, key.rsplit("|", 1)[1], f"hash:{key[-64:-32]}"])),
             options, question)
        if same_request(a, b):
            return
    else:
        b = (data.draw(st.sampled_from([o for o in OPERATIONS if o != operation])), text, options, question)
    assert cache_key(*b) != key


@SETTINGS
@given(requests)
def test_a_key_holds_its_operation_and_a_digest_only(a: tuple[Any, ...]) -> None:
    key = cache_key(*a)
    prefix, digest = key.rsplit("|", 1)
    assert prefix == f"ai_cache|v2|op:{a[0]}" and len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    assert operation_of(key) == a[0]


# -- backups ---------------------------------------------------------------------------------------

# Answers as the service writes them: every field, JSON-native values (no lone surrogates: the
# response itself could not be serialized with one, cached or not).
short_text = st.text(max_size=30)
answers = st.fixed_dictionaries({
    "result": st.none() | short_text,
    "sentiment": st.none() | st.fixed_dictionaries({
        "sentiment": st.sampled_from(["positive", "negative", "neutral"]),
        "confidence": st.floats(0, 1), "explanation": short_text}),
    "key_points": st.none() | st.lists(short_text, max_size=4),
    "questions": st.none() | st.lists(short_text, max_size=4),
    "metadata": st.dictionaries(short_text, st.none() | st.integers() | short_text, max_size=4),
})
FIELDS = ("result", "sentiment", "key_points", "questions", "metadata")


@st.composite
def good_entries(draw: st.DrawFn, index: int) -> tuple[str, bytes, int]:
    """``(key, stored bytes, PTTL)`` as Redis holds one; a PTTL past the operation's TTL included."""
    operation = draw(st.sampled_from(OPERATIONS))
    value = draw(answers)
    blob = encode(value, draw(st.sampled_from([0, 1000, 10**9])), draw(st.integers(1, 9)))
    ttl_ms = draw(st.integers(1, ttl_for(operation) * 1000) | st.integers(1, 10**19))
    return cache_key(operation, f"good {index}"), blob, ttl_ms


def _plain(raw: bytes) -> bytes:
    return b"J" + raw


@st.composite
def hostile_values(draw: st.DrawFn) -> tuple[str, str]:
    """``(base64 value, the reason a restore gives for it)``."""
    kind = draw(st.sampled_from(["too_large", "bad_zlib", "bad_base64", "wrong_shape"]))
    if kind == "too_large":
        value = {**draw(answers), "result": "0" * draw(st.integers(LIMIT, 4 * LIMIT))}
        blob = encode(value, draw(st.sampled_from([0, 10**9])), 6)  # a bomb, or plainly large
        return base64.b64encode(blob).decode(), "too_large"
    if kind == "bad_zlib":
        whole = encode(draw(answers), 0, 6)
        cut = whole[:draw(st.integers(1, len(whole) - 1))]  # a stream that never ends
        blob = draw(st.sampled_from([cut, b"Z\x00" + draw(st.binary(max_size=64))]))  # or no zlib header
        return base64.b64encode(blob).decode(), "corrupt"
    if kind == "bad_base64":
        return draw(st.text(min_size=1, max_size=20).map(lambda t: t + "%")), "corrupt"
    good = draw(answers)
    shape = draw(st.sampled_from(["extra", "missing", "not_an_object", "bad_sentiment", "not_json"]))
    if shape == "extra":  # an older version's, with its operation key, or another writer's
        extra = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in FIELDS))
        blob = encode({**good, extra: draw(short_text)}, 1000, 6)
    elif shape == "missing":
        gone = draw(st.sampled_from(FIELDS))
        blob = encode({k: v for k, v in good.items() if k != gone}, 1000, 6)
    elif shape == "not_an_object":
        blob = _plain(json.dumps(draw(st.none() | st.integers() | short_text | st.lists(st.integers()))).encode())
    elif shape == "bad_sentiment":
        blob = encode({**good, "sentiment": {"sentiment": "furious", "confidence": 1, "explanation": ""}}, 1000, 6)
    else:
        blob = draw(st.sampled_from([_plain(b"{not json"), _plain(b"\xff\xfe"), b"Z" + zlib.compress(b"{,}")]))
    return base64.b64encode(blob).decode(), "not_an_answer"


@SETTINGS
@given(st.data())
def test_a_backup_restores_its_good_entries_exactly_and_counts_the_hostile_ones(data: st.DataObject) -> None:
    good = [data.draw(good_entries(i)) for i in range(data.draw(st.integers(0, 6)))]
    hostile = data.draw(st.lists(hostile_values(), max_size=6))
    doc = document(merge([], good), NOW.isoformat(), None)
    for i, (value, _reason) in enumerate(hostile):
        position = data.draw(st.integers(0, len(doc["entries"])))
        doc["entries"].insert(position, {"key": cache_key("qa", f"hostile {i}"), "value": value,
                                         "ttl_ms": data.draw(st.integers(1, 10**19))})

    backup = Backup.model_validate_json(json.dumps(doc))  # as the route receives it
    part = restorable(backup.entries, backup.created_at, NOW, LIMIT)

    expected = sorted((key, blob, min(ttl, ttl_for(operation_of(key) or "") * 1000)) for key, blob, ttl in good)
    assert [(e.key, e.blob, e.ttl_ms) for e in part.alive] == expected
    assert part.expired == 0
    counted: dict[str, int] = {}
    for _value, reason in hostile:
        counted[reason] = counted.get(reason, 0) + 1
    assert dict(part.rejected) == counted
    for entry in part.alive:  # and what is restored is served: it builds the response every time
        ProcessResponse(operation=operation_of(entry.key), **dict(answer.read(entry.blob, LIMIT)),
                        processing_time=0.0, timestamp=NOW.isoformat(), cache_hit=True)
