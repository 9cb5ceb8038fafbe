"""A real local HTTP server speaking the OpenAI Chat Completions protocol, for tests.

    with FakeOpenAI() as fake:
        provider = OpenAICompatibleProvider(fake.base_url, "test-model", "sk-test", timeout_s=2)
        fake.fail_next(2, "error500")     # the next two calls fail, then "ok" again
        ...
        assert fake.calls == 3

It runs ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) in a daemon thread; every attribute below
may be changed while it runs. Modes:

- ``ok``: 200 with a Chat Completion (``id``, ``model`` = requested model + ``model_suffix``,
  ``choices[0].finish_reason``, ``usage`` counted from the input), the content derived from the prompt:
  system prompt mentions "sentiment" -> a JSON object ``{"sentiment", "confidence", "explanation"}``;
  mentions "per line" -> n lines (n = first number in the system prompt, default 3), "1. " numbered
  when it mentions "question", else "- " bullets; otherwise -> the first sentence of the user's text
  (after a "Text:" marker when there is one). ``reply`` overrides the content.
- ``slow``: like ``ok`` after ``delay_s`` seconds.
- ``held``: like ``ok`` once ``release_held()`` was called (or the server stops): requests stay in flight.
- ``error500`` / ``error429`` (with ``Retry-After: retry_after``) / ``error400``: an OpenAI-style error
  body, or ``error_body`` when set.
- ``garbage``: 200 with a body that is not JSON.  ``nochoices``: 200 with JSON lacking ``choices``.
- ``refuse``: the connection is closed without an answer.

``in_flight`` is how many requests it is answering now, ``max_in_flight`` the most it answered at once.

A request with ``"stream": true`` is answered (in ``ok``, ``slow`` and ``held``) as OpenAI streams: server-sent
``chat.completion.chunk`` events, one per word of the content, ``chunk_delay_s`` apart; a last chunk with the
finish reason; the usage in a chunk of its own when the request set ``stream_options.include_usage`` (and
``include_usage``); then ``data: [DONE]``. ``break_after = n`` closes the connection after n words, as a vendor
that breaks off; ``stream_events = False`` answers a stream request with a whole completion instead.
``streams_abandoned`` counts the streams whose client went away before the end.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, get_args

Mode = Literal["ok", "error500", "error429", "error400", "slow", "held", "garbage", "refuse", "nochoices"]
MODES: tuple[str, ...] = get_args(Mode)

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_POSITIVE = frozenset({"good", "great", "excellent", "love", "happy", "best", "fast", "easy", "reliable",
                       "success", "wonderful"})
_NEGATIVE = frozenset({"bad", "poor", "terrible", "hate", "sad", "worst", "slow", "broken", "fail", "failed",
                       "error", "problem", "awful"})


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON, or None when the body was not JSON
    mode: str  # the mode that answered it
    response: dict[str, Any] | None = None  # the JSON answer, when one was sent


class FakeOpenAI:
    def __init__(self, mode: Mode = "ok", delay_s: float = 1.0) -> None:
        self.mode: Mode = mode
        self.delay_s = delay_s
        self.retry_after: str | None = "1"
        self.reply: str | None = None
        self.error_body: str | None = None
        self.include_usage = True
        self.finish_reason: str | None = "stop"  # None: the choice carries no finish_reason at all
        self.cached_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens when set
        self.reasoning_tokens: int | None = None  # usage.completion_tokens_details.reasoning_tokens
        self.model_suffix = "-fake"
        self.chunk_delay_s = 0.0
        self.break_after: int | None = None
        self.stream_events = True
        self.streams_abandoned = 0
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._released = threading.Event()
        self._failures: deque[Mode] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-openai",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def last(self) -> RecordedRequest:
        with self._lock:
            return self.requests[-1]

    def fail_next(self, n: int, mode: Mode = "error500") -> None:
        """Answer the next ``n`` requests in ``mode``, then go back to ``self.mode``."""
        with self._lock:
            self._failures.extend([mode] * n)

    def release_held(self) -> None:
        """Let the ``held`` requests (and every later one) be answered."""
        self._released.set()

    def reset(self) -> None:
        with self._lock:
            self.mode = "ok"
            self._failures.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def _handle(self, handler: _Handler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            mode = self._failures.popleft() if self._failures else self.mode
            record = RecordedRequest(handler.path, {k.lower(): v for k, v in handler.headers.items()},
                                     body, mode)
            self.requests.append(record)
            serial = len(self.requests)
        if mode == "refuse":
            handler.close_connection = True
            return
        if mode == "slow" and self._stopping.wait(self.delay_s):
            handler.close_connection = True
            return
        if mode == "held":
            self._released.wait()
        if mode == "garbage":
            _send(handler, 200, b"<html><body>502 Bad Gateway (upstream hiccup)</body></html>", "text/html")
        elif mode == "nochoices":
            _send_json(handler, 200, {"id": f"chatcmpl-fake-{serial}", "object": "chat.completion"})
        elif mode in ("error500", "error429", "error400"):
            self._send_error(handler, mode)
        elif not _valid(body):
            _send_json(handler, 400, _error("'model' and 'messages' are required", "invalid_request_error"))
        elif body.get("stream") is True and self.stream_events:
            self._stream(handler, body, serial)
        else:
            record.response = self._completion(body, serial)
            _send_json(handler, 200, record.response)

    def _send_error(self, handler: _Handler, mode: str) -> None:
        status = {"error500": 500, "error429": 429, "error400": 400}[mode]
        kind = {500: "server_error", 429: "rate_limit_exceeded", 400: "invalid_request_error"}[status]
        headers = {"Retry-After": self.retry_after} if status == 429 and self.retry_after else {}
        if self.error_body is not None:
            _send(handler, status, self.error_body.encode(), "application/json", headers)
        else:
            _send_json(handler, status, _error(f"fake {kind}", kind), headers)

    def _completion(self, body: dict[str, Any], serial: int) -> dict[str, Any]:
        messages = body["messages"]
        system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
        user = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        content = self.reply if self.reply is not None else answer(system, user)
        response: dict[str, Any] = {
            "id": f"chatcmpl-fake-{serial}", "object": "chat.completion", "created": 1_700_000_000,
            "model": f"{body['model']}{self.model_suffix}",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         **({"finish_reason": self.finish_reason} if self.finish_reason else {})}],
        }
        if self.include_usage:
            response["usage"] = self._usage(messages, content)
        return response

    def _usage(self, messages: list[dict[str, Any]], content: str) -> dict[str, Any]:
        prompt = sum(count_tokens(str(m.get("content", ""))) + 4 for m in messages) + 3
        completion = count_tokens(content)
        usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return usage

    def _stream(self, handler: _Handler, body: dict[str, Any], serial: int) -> None:
        whole = self._completion(body, serial)
        content = whole["choices"][0]["message"]["content"]
        base = {"id": whole["id"], "object": "chat.completion.chunk", "created": whole["created"],
                "model": whole["model"]}
        events: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
        words = re.findall(r"\s*\S+", content)
        events += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
        cut = None if self.break_after is None else 1 + self.break_after
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]})
        options = body.get("stream_options")
        if self.include_usage and isinstance(options, dict) and options.get("include_usage") is True:
            events.append({**base, "choices": [], "usage": self._usage(body["messages"], content)})
        handler.close_connection = True  # no Content-Length: the end of the connection ends the body
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            for index, event in enumerate(events[:cut]):
                if index > 1 and self._stopping.wait(self.chunk_delay_s):
                    return
                handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                handler.wfile.flush()
            if cut is None:
                handler.wfile.write(b"data: [DONE]\n\n")
                handler.wfile.flush()
        except OSError:  # the client went away mid-stream
            with self._lock:
                self.streams_abandoned += 1


def answer(system: str, user: str) -> str:
    """The deterministic "ok" content for a prompt (see the module docstring)."""
    lowered = system.lower()
    text = user.split("Text:", 1)[1].strip() if "Text:" in user else user.strip()
    if "sentiment" in lowered:
        tokens = [w.lower() for w in _WORD.findall(text)]
        pos, neg = sum(w in _POSITIVE for w in tokens), sum(w in _NEGATIVE for w in tokens)
        label = "positive" if pos > neg else "negative" if neg > pos else "neutral"
        confidence = round(0.5 + 0.45 * abs(pos - neg) / max(1, pos + neg), 2)
        return json.dumps({"sentiment": label, "confidence": confidence,
                           "explanation": f"{pos} positive and {neg} negative cue words."})
    if "per line" in lowered:
        number = re.search(r"\d+", system)
        n = max(1, min(10, int(number.group(0)) if number else 3))
        if "question" in lowered:
            topics = list(dict.fromkeys(w.lower() for w in _WORD.findall(text) if len(w) > 3))[:n]
            return "\n".join(f"{i}. What does the text say about {t}?" for i, t in enumerate(topics, 1))
        return "\n".join(f"- {' '.join(s.split()[:12])}" for s in _sentences(text)[:n])
    return " ".join(_sentences(text)[0].split()[:40])


def count_tokens(text: str) -> int:
    """The fake's token count: words and punctuation marks (deliberately unlike ``estimate_tokens``)."""
    return len(_TOKEN.findall(text))


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], fake: FakeOpenAI) -> None:
        super().__init__(address, handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are dropped after this
    server: _Server

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            _send_json(self, 404, _error(f"unknown path {self.path}", "invalid_request_error"))
            return
        try:
            self.server.fake._handle(self)
        except OSError:  # the client went away (e.g. it timed out first)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return None


def _valid(body: Any) -> bool:
    return (isinstance(body, dict) and isinstance(body.get("model"), str)
            and isinstance(body.get("messages"), list) and bool(body["messages"])
            and all(isinstance(m, dict) for m in body["messages"]))


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text.strip()) if s] or ["(empty)"]


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
               headers: dict[str, str] | None = None) -> None:
    _send(handler, status, json.dumps(payload).encode(), "application/json", headers)


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
