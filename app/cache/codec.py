"""Values as bytes: JSON, zlib-compressed past a size threshold, with a one-byte marker."""

from __future__ import annotations

import json
import zlib
from typing import Any, ClassVar

_RAW, _ZLIB = b"J", b"Z"


class InvalidValue(ValueError):
    """A stored value that is no answer of this service; ``reason`` is its kind, for counts and logs.
    Messages never quote the value."""

    reason: ClassVar[str] = "invalid"


class CorruptValue(InvalidValue):
    reason = "corrupt"


def encode(value: dict[str, Any], threshold: int, level: int) -> bytes:
    raw = json.dumps(value, separators=(",", ":")).encode()
    if len(raw) > threshold:
        return _ZLIB + zlib.compress(raw, level)
    return _RAW + raw


def decode(blob: bytes) -> dict[str, Any]:
    """The value, or ``ValueError`` for anything this codec did not write (corrupt data included)."""
    value = json.loads(json_body(blob))
    if not isinstance(value, dict):
        raise ValueError("cache value is not an object")
    return value


def is_compressed(blob: bytes) -> bool:
    return blob[:1] == _ZLIB


def raw_size(blob: bytes) -> int:
    """Bytes of the JSON before compression: what compression saved is ``raw_size - len(blob)``."""
    return len(json_body(blob)) + 1


def json_body(blob: bytes) -> bytes:
    """The JSON a value holds, decompressed; ``CorruptValue`` for what this codec did not write."""
    marker, body = blob[:1], blob[1:]
    if marker == _ZLIB:
        try:
            return zlib.decompress(body)
        except zlib.error as exc:  # callers treat unreadable entries as misses: one exception type
            raise CorruptValue(f"corrupt compressed cache value: {exc}") from exc
    if marker != _RAW:
        raise CorruptValue("unknown cache value encoding")
    return body
