"""Values as bytes: JSON, zlib-compressed past a size threshold, with a one-byte marker.

Reading is bounded: a value decompresses, in a stream, to at most ``max_bytes`` of JSON
(``CACHE_MAX_VALUE_BYTES``), so a small compressed value cannot expand to a large one in memory
(a 518 KB entry of zeros is 500 MB of JSON).
"""

from __future__ import annotations

import json
import zlib
from typing import Any, ClassVar

_RAW, _ZLIB = b"J", b"Z"
DEFAULT_MAX_VALUE_BYTES = 1024 * 1024  # CACHE_MAX_VALUE_BYTES' default


class InvalidValue(ValueError):
    """A stored value that is no answer of this service; ``reason`` is its kind, for counts and logs.
    Messages never quote the value."""

    reason: ClassVar[str] = "invalid"


class CorruptValue(InvalidValue):
    reason = "corrupt"


class ValueTooLarge(InvalidValue):
    reason = "too_large"


def encode(value: dict[str, Any], threshold: int, level: int, max_bytes: int | None = None) -> bytes:
    """The stored bytes; ``ValueTooLarge`` past ``max_bytes`` of JSON, which no reader would take."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    if max_bytes is not None and len(raw) > max_bytes:
        raise ValueTooLarge(f"{len(raw)} bytes of JSON, over the limit of {max_bytes}")
    if len(raw) > threshold:
        return _ZLIB + zlib.compress(raw, level)
    return _RAW + raw


def decode(blob: bytes, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> dict[str, Any]:
    """The value, or ``ValueError`` for anything this codec did not write (corrupt data included)."""
    value = json.loads(json_body(blob, max_bytes))
    if not isinstance(value, dict):
        raise ValueError("cache value is not an object")
    return value


def is_compressed(blob: bytes) -> bool:
    return blob[:1] == _ZLIB


def raw_size(blob: bytes, max_bytes: int = DEFAULT_MAX_VALUE_BYTES) -> int:
    """Bytes of the JSON before compression: what compression saved is ``raw_size - len(blob)``."""
    return len(json_body(blob, max_bytes)) + 1


def json_body(blob: bytes, max_bytes: int) -> bytes:
    """The JSON a value holds, decompressed to at most ``max_bytes``: ``ValueTooLarge`` past it,
    ``CorruptValue`` for what this codec did not write."""
    marker, body = blob[:1], blob[1:]
    if marker == _RAW:
        if len(body) > max_bytes:
            raise ValueTooLarge(f"over the limit of {max_bytes} bytes")
        return body
    if marker != _ZLIB:
        raise CorruptValue("unknown cache value encoding")
    stream = zlib.decompressobj()
    try:
        # One byte past the limit tells "too large" from "exactly the limit"; the rest is never inflated.
        out = stream.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise CorruptValue(f"corrupt compressed cache value: {exc}") from None
    if len(out) > max_bytes:
        raise ValueTooLarge(f"decompresses past the limit of {max_bytes} bytes")
    if not stream.eof or stream.unused_data:
        raise CorruptValue("corrupt compressed cache value: truncated, or data after its end")
    return out
