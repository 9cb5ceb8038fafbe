"""A real webhook receiver: an HTTP server in a thread that records each POST and checks its signature.

It can be down (not started, or stopped) and come back on the same port, answer with a chosen status,
or hold its answers until released, so tests see what a monitoring system at the other end sees.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers.processes import free_port


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    signature_valid: bool

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def event(self) -> str:
        return str(self.json["event"])


class WebhookReceiver:
    def __init__(self, secret: str = "", port: int | None = None) -> None:
        self.secret = secret
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/alerts"
        self.status = 200
        self.received: list[Received] = []
        self.released = threading.Event()
        self.released.set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def _signature_valid(self, body: bytes, header: str | None) -> bool:
        # computed here independently of app.notify, as a receiver written by someone else would
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return header is not None and hmac.compare_digest(expected, header)

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Received(body, headers, receiver._signature_valid(
                        body, headers.get("x-signature-256"))))
                receiver.released.wait(timeout=30)
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if receiver.status < 400 else b'{"error": "receiver says no"}')

            def log_message(self, format: str, *args: Any) -> None:
                return None

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, kind: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if kind is None or r.event == kind]

    def wait_for(self, count: int, kind: str | None = None, timeout_s: float = 10.0) -> list[Received]:
        found: list[Received] = wait_until(lambda: len(self.events(kind)) >= count and self.events(kind),
                                           timeout_s, f"{count} {kind or 'any'} notification(s)")
        return found


def wait_until(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
