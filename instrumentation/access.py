"""The access log: one record per HTTP request, written inside the request's server span.

It replaces uvicorn's access line (``python -m app`` runs uvicorn with ``access_log=False``): logged on
logger ``http.access`` at INFO while the server span is current, it carries the request's trace and span
ids on stdout and over OTLP, so every traced request has a log record found by its trace id. Body, like
uvicorn's: ``127.0.0.1:50000 - "GET /health HTTP/1.1" 200 1.2ms``; attributes: method, route, path,
status, duration (s), client address. The path without its query string (where secrets travel), escaped
when it holds control characters (a ``%0A`` must not start a forged line); no header, no body.

``LeanHTTPMiddleware`` calls ``log_access`` itself; ``AccessLogMiddleware`` is for the other HTTP modes.
"""

from __future__ import annotations

import logging
import sys
from time import perf_counter
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ACCESS_ATTRIBUTES", "ACCESS_LOGGER", "AccessLogMiddleware", "StatusSend", "log_access"]

ACCESS_LOGGER: Final = "http.access"
# Its extras, in the order it sets them: the OTLP handler reads these and nothing else of the record.
ACCESS_ATTRIBUTES: Final = ("http.request.method", "url.path", "http.response.status_code",
                            "http.server.request.duration", "http.route", "client.address")
_MESSAGE: Final = '%s - "%s %s HTTP/%s" %d %.1fms'
_log = logging.getLogger(ACCESS_LOGGER)


def log_access(scope: Scope, route: str | None, status: int, elapsed_s: float) -> None:
    if not _log.isEnabledFor(logging.INFO):
        return
    path = scope["path"]
    if not path.isprintable():
        path = path.encode("unicode_escape").decode("ascii")
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else "-"
    extra: dict[str, object] = {
        "http.request.method": scope["method"], "url.path": path, "http.response.status_code": status,
        "http.server.request.duration": elapsed_s,
    }
    if route:
        extra["http.route"] = route
    if client:
        extra["client.address"] = client[0]
    args = (address, scope["method"], path, scope.get("http_version", "1.1"), status, elapsed_s * 1000)
    if logging._srcfile and type(_log) is logging.Logger:
        # Logger.info's record without its caller lookup (~3 µs of the line's ~25: a walk up the stack to the
        # first frame outside logging, which is always this one): the same record, the code location this
        # frame's (file, line, function), as findCaller gives it.
        frame = sys._getframe()
        _log.handle(_log.makeRecord(_log.name, logging.INFO, frame.f_code.co_filename, frame.f_lineno, _MESSAGE, args,
                                    None, frame.f_code.co_name, extra))
    else:  # a Logger class of one's own, or code locations turned off: as logging does it
        _log.info(_MESSAGE, *args, extra=extra)


class StatusSend:
    """An ASGI ``send`` that keeps the status it sent: 500 until then (an exception that escapes is
    answered 500 by the server error middleware outside)."""

    __slots__ = ("_send", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class AccessLogMiddleware:
    """The access record where ``LeanHTTPMiddleware`` does not write it (``stock`` and ``off`` modes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, sent = perf_counter(), StatusSend(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            try:
                route = getattr(scope.get("route"), "path", None)
                log_access(scope, route if isinstance(route, str) else None, sent.status, perf_counter() - start)
            except Exception:  # telemetry never breaks a request
                _log.debug("access record failed", exc_info=True)
