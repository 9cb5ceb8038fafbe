"""Cache values as bytes: JSON, zlib-compressed over a threshold, and refusing what is not ours."""

from __future__ import annotations

import json
import tracemalloc
import zlib

import pytest

from app.cache.codec import CorruptValue, ValueTooLarge, decode, encode
from tests.helpers.answers import bomb

SMALL = {"operation": "sentiment", "result": "positive"}
LARGE = {"operation": "summarize", "result": "The quick brown fox jumps over the lazy dog. " * 100}


def test_small_values_are_stored_plain_and_round_trip() -> None:
    blob = encode(SMALL, threshold=1000, level=6)
    assert json.dumps(SMALL, separators=(",", ":")).encode() in blob
    assert decode(blob) == SMALL


def test_values_over_the_threshold_are_zlib_compressed_and_round_trip() -> None:
    raw = json.dumps(LARGE, separators=(",", ":")).encode()
    blob = encode(LARGE, threshold=1000, level=6)
    assert raw not in blob
    assert len(blob) < len(raw) // 4
    assert zlib.decompress(blob[1:]) == raw
    assert decode(blob) == LARGE


def test_threshold_is_exclusive() -> None:
    raw = json.dumps(SMALL, separators=(",", ":")).encode()
    assert decode(encode(SMALL, threshold=len(raw), level=1)) == SMALL
    assert raw in encode(SMALL, threshold=len(raw), level=1)
    assert raw not in encode(SMALL, threshold=len(raw) - 1, level=1)


def test_unicode_round_trips_compressed_or_not() -> None:
    value = {"result": "Résumé — naïve café ✓ 日本語" * 50}
    assert decode(encode(value, threshold=10, level=9)) == value
    assert decode(encode(value, threshold=10**9, level=9)) == value


@pytest.mark.parametrize("blob", [b"", b"garbage", b"Xabc", b"J{not json", b"J[1, 2]", b'J"text"', b"J\xff\xfe"])
def test_garbage_raises_value_error(blob: bytes) -> None:
    with pytest.raises(ValueError):
        decode(blob)


@pytest.mark.parametrize("blob", [b"Znot zlib at all", b"Z", b"Z" + zlib.compress(b'{"a": 1}')[:-3]])
def test_corrupt_compressed_value_raises_value_error(blob: bytes) -> None:
    with pytest.raises(ValueError):
        decode(blob)


def test_compressed_non_object_is_refused() -> None:
    with pytest.raises(ValueError):
        decode(b"Z" + zlib.compress(b"[1,2,3]"))


def test_decompression_stops_at_the_limit() -> None:
    """Streamed: a value is inflated to the limit and no further, so a small entry cannot take the
    memory its JSON would (here 256 MiB from 256 KB)."""
    value = {"result": "x" * 1000}
    raw = json.dumps(value, separators=(",", ":")).encode()
    assert decode(encode(value, threshold=10, level=6), max_bytes=len(raw)) == value
    with pytest.raises(ValueTooLarge):
        decode(encode(value, threshold=10, level=6), max_bytes=len(raw) - 1)
    with pytest.raises(ValueTooLarge):
        decode(encode(value, threshold=10**9, level=6), max_bytes=len(raw) - 1)  # plain values too
    tracemalloc.start()
    try:
        with pytest.raises(ValueTooLarge):
            decode(bomb(256 << 20), max_bytes=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak >> 20} MiB held to read a value limited to 1 MiB"


def test_data_after_the_compressed_stream_is_corrupt() -> None:
    with pytest.raises(CorruptValue):
        decode(b"Z" + zlib.compress(b'{"a": 1}') + b"trailing")


def test_what_readers_would_refuse_is_not_written() -> None:
    with pytest.raises(ValueTooLarge):
        encode(LARGE, threshold=1000, level=6, max_bytes=1000)
