"""The webhook signature: ``X-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``.

The same scheme GitHub uses, so existing receivers verify it unchanged: compute the HMAC over the
raw request body (before any JSON parsing) and compare in constant time, as ``verify`` does.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Signature-256"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, body), header)
