"""Cache values as the service writes them: every field of the answer model (app/cache/answer.py)."""

from __future__ import annotations

import base64
import zlib
from typing import Any

from app.cache.codec import encode


def an_answer(result: str, **fields: Any) -> dict[str, Any]:
    return {"result": result, "sentiment": None, "key_points": None, "questions": None,
            "metadata": {"model": "offline"}, **fields}


def stored(value: dict[str, Any], threshold: int = 1000) -> bytes:
    """The bytes a tier holds for ``value`` (compressed past ``threshold``)."""
    return encode(value, threshold, 6)


def backup_value(value: dict[str, Any]) -> str:
    """``value`` as a backup entry holds it: the stored bytes in base64."""
    return base64.b64encode(stored(value)).decode()


def bomb(json_bytes: int) -> bytes:
    """A stored value whose JSON (an answer's ``result`` of zeros) is ``json_bytes`` long, compressed
    about a thousandfold: built in a stream, so the test itself never holds the JSON."""
    stream = zlib.compressobj(9)
    head, tail = b'{"result":"', b'"}'
    parts = [stream.compress(head)]
    zeros = json_bytes - len(head) - len(tail)
    chunk = b"0" * (1 << 20)
    for _ in range(zeros >> 20):
        parts.append(stream.compress(chunk))
    parts.append(stream.compress(b"0" * (zeros & ((1 << 20) - 1)) + tail))
    parts.append(stream.flush())
    return b"Z" + b"".join(parts)
