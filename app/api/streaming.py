"""A streamed answer as server-sent events (``text/event-stream``).

The events, each ``data`` one JSON object:

- ``chunk``: ``{"text": ...}``, the model's next text as it comes (none for a cache hit);
- ``result``: the answer, the same object the route answers without streaming, sent once it is
  complete (and cached);
- ``error``: ``{"detail", "error"}`` as a 502 would say it, when the provider fails after the stream
  began; nothing follows it. Failures before the first event are ordinary error responses (502, 503).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping

from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.types import Receive, Scope, Send

from app.api.errors import llm_failure
from app.services.closing import aclose_shielded
from app.services.llm.base import LLMError
from app.services.processing import Delta, StreamEvent

EVENT_STREAM = "text/event-stream"
# OpenAPI 3.1 (FastAPI's) has a sequential media type's schema describe each event
OPENAPI_CONTENT = {EVENT_STREAM: {"schema": {
    "type": "object", "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["chunk", "result", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": 'chunk: {"text": ...}; result: the answer (ProcessResponse); error: an ErrorBody'}}}}}


def wants_stream(flag: bool, headers: Mapping[str, str]) -> bool:
    """The body's ``stream``, or an ``Accept`` that names the event stream (read only when the flag is
    off: most requests ask for neither)."""
    return flag or EVENT_STREAM in headers.get("accept", "")


async def sse(events: AsyncGenerator[StreamEvent, None]) -> AsyncGenerator[bytes, None]:
    try:
        async for event in events:
            if isinstance(event, Delta):
                yield format_sse_event(data_str=json.dumps({"text": event.text}), event="chunk")
            else:
                yield format_sse_event(data_str=event.model_dump_json(exclude_none=True), event="result")
    except LLMError as exc:
        yield format_sse_event(data_str=json.dumps(llm_failure(exc, "during the stream")), event="error")
    finally:
        await aclose_shielded(events)


class EventStream(EventSourceResponse):
    """Closes its events however the response ends: a client that goes away mid-stream ends the
    provider's call (its span, its connection, its limiter slot) now, not when the garbage collector
    finds the generator."""

    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        # no-cache, and no proxy buffering (nginx): each event reaches the client as it is sent
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await aclose_shielded(self._events)
