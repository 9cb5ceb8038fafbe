"""Cache keys and TTLs.

A key is ``ai_cache|v2|op:<operation>|<sha256>``: the digest of every input (operation, text, options,
question) as one canonical JSON document. No user text sits in a key (anyone who can ``SCAN`` Redis
reads keys), and no input can spell another's key: the digest covers the whole request, not a text
part that a short text could imitate. The operation stays readable for the per-operation TTL and the
reports. Keys of the first version (``ai_cache|op:...|txt:...``) are never looked up again: they
expire by their TTL, and a restore still reads their operation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

KEY_PREFIX = "ai_cache"
KEY_VERSION = "v2"

TTL_SECONDS: dict[str, int] = {
    "summarize": 2 * 3600,
    "sentiment": 24 * 3600,
    "key_points": 2 * 3600,
    "questions": 3600,
    "qa": 30 * 60,
}
DEFAULT_TTL_SECONDS = 3600


def cache_key(operation: str, text: str, options: Mapping[str, Any] | None = None,
              question: str | None = None) -> str:
    # A list, not a concatenation: the JSON encoding delimits each input, so no two requests share it.
    # A missing question and an empty one ask the same (the service treats both as none).
    request = [operation, text, dict(options or {}), question or None]
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{KEY_PREFIX}|{KEY_VERSION}|op:{operation}|{digest}"


def ttl_for(operation: str) -> int:
    return TTL_SECONDS.get(operation, DEFAULT_TTL_SECONDS)


def operation_of(key: str) -> str | None:
    """The operation a key was made for (this version's keys and the first's), or None for a key this
    module did not make."""
    parts = key.split("|", 3)
    if len(parts) >= 3 and parts[0] == KEY_PREFIX and parts[1] == KEY_VERSION and parts[2].startswith("op:"):
        return parts[2][3:]
    if len(parts) >= 3 and parts[0] == KEY_PREFIX and parts[1].startswith("op:"):
        return parts[1][3:]  # a first-version key, from an older backup
    return None
