"""Values as bytes: JSON, zlib-compressed past a size threshold, with a one-byte marker."""

from __future__ import annotations

import json
import zlib
from typing import Any

_RAW, _ZLIB = b"J", b"Z"


def encode(value: dict[str, Any], threshold: int, level: int) -> bytes:
    raw = json.dumps(value, separators=(",", ":")).encode()
    if len(raw) > threshold:
        return _ZLIB + zlib.compress(raw, level)
    return _RAW + raw


def decode(blob: bytes) -> dict[str, Any]:
    """The value, or ``ValueError`` for anything this codec did not write (corrupt data included)."""
    value = json.loads(_body(blob))
    if not isinstance(value, dict):
        raise ValueError("cache value is not an object")
    return value


def is_compressed(blob: bytes) -> bool:
    return blob[:1] == _ZLIB


def raw_size(blob: bytes) -> int:
    """Bytes of the JSON before compression: what compression saved is ``raw_size - len(blob)``."""
    return len(_body(blob)) + 1


def _body(blob: bytes) -> bytes:
    marker, body = blob[:1], blob[1:]
    if marker == _ZLIB:
        try:
            return zlib.decompress(body)
        except zlib.error as exc:  # callers treat unreadable entries as misses: one exception type
            raise ValueError(f"corrupt compressed cache value: {exc}") from exc
    if marker != _RAW:
        raise ValueError("unknown cache value encoding")
    return body
