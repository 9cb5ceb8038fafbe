"""Request bodies over a size limit are refused with 413 before anything reads or parses them.

A declared ``Content-Length`` over the limit is answered at once: the app never runs and the body is
never read. Any other body (``Transfer-Encoding: chunked``, or one longer than declared) is counted as
it arrives and refused as soon as the count passes the limit, before the app has it whole. The
413 closes the connection: the rest of the upload is not read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "BodySizeLimitMiddleware", "BodyTooLarge", "too_large_body"]


@dataclass(frozen=True, slots=True)
class BodyLimit:
    max_bytes: int
    setting: str  # the variable that raises it, named in the answer
    hint: str = ""

    def message(self, size: int | None) -> str:
        what = f"{size} bytes" if size is not None else f"over {self.max_bytes} bytes"
        return f"request body too large: {what}, the limit here is {self.max_bytes} bytes ({self.setting}){self.hint}"


class BodyTooLarge(HTTPException):
    """Raised from ``receive``: FastAPI lets it through its body parsing, its handler answers 413."""

    def __init__(self, limit: BodyLimit) -> None:
        super().__init__(413, limit.message(None), headers={"Connection": "close"})


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, default: BodyLimit, paths: Mapping[str, BodyLimit] | None = None) -> None:
        self.app = app
        self.default = default
        self.paths = dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.default)
        declared, chunked = _framing(scope)
        if declared is not None and declared > limit.max_bytes:
            await _refuse(send, limit.message(declared))
            return
        if not chunked:
            # The server holds a body to its Content-Length (none: no body): only chunked bodies need
            # counting (whatever Content-Length says beside it: a chunked body is framed by its chunks),
            # and the wrappers below would cost every other request its share of the budget.
            await self.app(scope, receive, send)
            return

        received, started = 0, False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # read outside FastAPI's handlers (another middleware): answer here
            if started:
                raise
            await _refuse(send, str(exc.detail))


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None: absent or malformed) and whether a Transfer-Encoding is set."""
    length: bytes | None = None
    chunked = False
    for name, value in scope["headers"]:  # one pass, on every request: no Headers object
        if name == b"content-length":
            length = length or value
        elif name == b"transfer-encoding":
            chunked = True
    try:
        return (int(length) if length is not None else None), chunked
    except ValueError:
        return None, chunked  # the server rejects a malformed one; count instead


def too_large_body(detail: str) -> dict[str, str]:
    return {"detail": detail, "error": "request_too_large"}


async def _refuse(send: Send, detail: str) -> None:
    body = json.dumps(too_large_body(detail)).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
