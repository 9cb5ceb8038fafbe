"""Cache values as bytes: JSON, zlib-compressed over a threshold, and refusing what is not ours."""

from __future__ import annotations

import json
import zlib

import pytest

from app.cache.codec import decode, encode

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
