"""Cache keys and TTLs, as the template had them: operation + text (hashed when long) + options + question."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

KEY_PREFIX = "ai_cache"
TEXT_HASH_THRESHOLD = 1000  # characters: shorter texts stay readable in the key

TTL_SECONDS: dict[str, int] = {
    "summarize": 2 * 3600,
    "sentiment": 24 * 3600,
    "key_points": 2 * 3600,
    "questions": 3600,
    "qa": 30 * 60,
}
DEFAULT_TTL_SECONDS = 3600


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def cache_key(operation: str, text: str, options: Mapping[str, Any] | None = None,
              question: str | None = None) -> str:
    text_part = f"hash:{_digest(text)}" if len(text) > TEXT_HASH_THRESHOLD else text
    opts = json.dumps(dict(options or {}), sort_keys=True, separators=(",", ":"), default=str)
    parts = [KEY_PREFIX, f"op:{operation}", f"txt:{text_part}", f"opts:{_digest(opts)[:16]}"]
    if question:
        parts.append(f"q:{_digest(question)[:16]}")
    return "|".join(parts)


def ttl_for(operation: str) -> int:
    return TTL_SECONDS.get(operation, DEFAULT_TTL_SECONDS)


def operation_of(key: str) -> str | None:
    """The operation a key was made for, or None for a key this module did not make."""
    parts = key.split("|", 2)
    if len(parts) < 3 or parts[0] != KEY_PREFIX or not parts[1].startswith("op:"):
        return None
    return parts[1][3:]
