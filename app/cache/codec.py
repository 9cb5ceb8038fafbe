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
    marker, body = blob[:1], blob[1:]
    if marker == _ZLIB:
        body = zlib.decompress(body)
    elif marker != _RAW:
        raise ValueError("unknown cache value encoding")
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("cache value is not an object")
    return value
