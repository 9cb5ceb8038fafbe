"""The audit trail of the operator surface: one log line per mutating ``/internal`` request.

Every POST (PUT, PATCH, DELETE) under ``/internal`` logs, on logger ``app.audit``, who did what and how
it ended: method, path, client address, the fingerprint of the API key offered and the status sent,
401s and 413s included. A pure ASGI middleware, so no endpoint can be left out of it. The key is never
logged: its fingerprint is the first 8 hex digits of its SHA-256, enough to tell the configured keys
apart and too short to test a guess against with any confidence.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.access import offered
from instrumentation.access import StatusSend

__all__ = ["AUDIT_LOGGER", "AuditMiddleware", "key_fingerprint"]

AUDIT_LOGGER = "app.audit"
_log = logging.getLogger(AUDIT_LOGGER)
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def offered_key(headers: Headers) -> str | None:
    """The first key a request offers (X-API-Key, else the bearer token), as the guards read them."""
    keys = offered(headers).keys
    return keys[0] if keys else None


class AuditMiddleware:
    def __init__(self, app: ASGIApp, prefix: str = "/internal") -> None:
        self.app = app
        self.prefix = prefix
        # The trail does not depend on LOG_LEVEL: INFO reaches the root handlers whatever the root's level.
        if _log.level == logging.NOTSET:
            _log.setLevel(logging.INFO)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in _READ_ONLY
                or not (scope["path"] == self.prefix or scope["path"].startswith(self.prefix + "/"))):
            await self.app(scope, receive, send)
            return
        start, sent = time.perf_counter(), StatusSend(send)  # 500 unless a status is sent
        try:
            await self.app(scope, receive, sent)
        finally:
            _record(scope, sent.status, time.perf_counter() - start)


def _record(scope: Scope, status: int, duration_s: float) -> None:
    key = offered_key(Headers(scope=scope))
    client = scope.get("client")
    fields: dict[str, Any] = {
        # a decoded path may hold %0A: escaped, so a line of the trail stays one line
        "method": scope["method"], "path": scope["path"].encode("unicode_escape").decode("ascii"),
        "client": f"{client[0]}:{client[1]}" if client else "-",
        "key": key_fingerprint(key) if key else "none", "status": status,
        "duration_ms": round(duration_s * 1000, 1),
    }
    _log.log(logging.WARNING if status >= 400 else logging.INFO,
             "audit %s %s status=%s client=%s key=%s duration_ms=%s", fields["method"], fields["path"],
             status, fields["client"], fields["key"], fields["duration_ms"], extra={"audit": fields})
