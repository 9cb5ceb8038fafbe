"""OTLP/HTTP posts over one kept-alive ``http.client`` connection instead of a ``requests`` session.

The OTLP/HTTP exporters post through ``requests`` (the SDK's ``RequestsHTTPTransport``): session and
adapter machinery, hooks, cookies, header merging, ~0.9 ms of CPU per post on this machine, pure Python on
the exporter thread. At 64 spans a post that was ~14 µs of every sampled span, more than encoding it. The
same post over a kept ``http.client.HTTPConnection`` costs ~0.1 ms. The exporter keeps everything else:
endpoint and header resolution, compression, retries and backoff, its own metrics.

Only for a plain ``http://`` endpoint (the agent Collector beside the service): TLS, client certificates
and proxies stay with the SDK's transport, which is also used for any URL this one does not handle.
``keep_alive`` reaches into the exporter (``_client._transport``, ``_endpoint``), so it acts only on the
SDK version it was checked against (``SDK_PIN``) and leaves the exporter as built otherwise.
``tests/unit/test_otlp_transport.py`` sends the same exports through both transports to one server.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from opentelemetry.exporter.http.transport._base import BaseHTTPResult, BaseHTTPTransport

from instrumentation.pins import HTTP_TRANSPORT_PIN as SDK_PIN
from instrumentation.pins import installed

__all__ = ["SDK_PIN", "KeptAliveTransport", "keep_alive"]

_log = logging.getLogger(__name__)
# What a kept connection fails with when the peer went away or refused: the client retries these at once.
_CONNECTION_ERRORS: Final = (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest,
                             http.client.BadStatusLine, http.client.IncompleteRead)


class _Headers(dict[str, str]):
    """Response headers, case-insensitive as ``BaseHTTPResult.headers`` promises (keys kept lower-case)."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass(frozen=True, slots=True)
class KeptAliveResult(BaseHTTPResult):
    body: bytes = b""
    header_map: Mapping[str, str] = field(default_factory=_Headers)

    def content(self) -> bytes:
        return self.body

    def headers(self) -> Mapping[str, str]:
        return self.header_map


class KeptAliveTransport(BaseHTTPTransport):
    """One persistent connection per (host, port) for ``http://`` URLs; ``fallback`` for every other URL."""

    def __init__(self, fallback: BaseHTTPTransport) -> None:
        self._fallback = fallback
        self._lock = threading.Lock()  # the export thread, and force_flush/shutdown from another
        self._connections: dict[tuple[str, int], http.client.HTTPConnection] = {}
        self._targets: dict[str, tuple[str, int, str] | None] = {}

    def _target(self, url: str) -> tuple[str, int, str] | None:
        target = self._targets.get(url, ())
        if target == ():
            parts = urlsplit(url)
            if (parts.scheme != "http" or not parts.hostname or parts.username or parts.password
                    or ("http" in getproxies() and not proxy_bypass(parts.hostname))):
                target = None  # TLS, credentials in the URL, a proxy from the environment: requests' job
            else:
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                target = (parts.hostname, parts.port or 80, path)
            if len(self._targets) < 64:
                self._targets[url] = target
        return target  # type: ignore[return-value]

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                timeout: float | None = None, data: bytes | None = None) -> BaseHTTPResult:
        target = self._target(url)
        if target is None:
            return self._fallback.request(method, url, headers=headers, timeout=timeout, data=data)
        host, port, path = target
        with self._lock:
            connection = self._connections.get((host, port))
            if connection is None:
                connection = self._connections[(host, port)] = http.client.HTTPConnection(host, port, timeout=timeout)
            else:
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
            try:
                connection.request(method, path, body=data, headers=headers or {})
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()  # a fresh connection next time (the client retries a connection error once)
                del self._connections[(host, port)]
                return KeptAliveResult(error=error)
            if response.will_close:
                connection.close()
                del self._connections[(host, port)]
        return KeptAliveResult(status_code=response.status, reason=response.reason, body=body,
                               header_map=_Headers((k.lower(), v) for k, v in response.getheaders()))

    def is_connection_error(self, exception: Exception | None) -> bool:
        return isinstance(exception, _CONNECTION_ERRORS) or self._fallback.is_connection_error(exception)

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()
        self._fallback.close()


def keep_alive(exporter: object, *, version: str | None = None) -> bool:
    """Post ``exporter``'s exports over ``KeptAliveTransport`` when its endpoint is plain HTTP; True if it does."""
    client = getattr(exporter, "_client", None)
    inner = getattr(client, "_transport", None)
    endpoint = getattr(exporter, "_endpoint", None)
    if version is None:
        version = installed("opentelemetry-exporter-http-transport")
    if (version != SDK_PIN or not isinstance(inner, BaseHTTPTransport)
            or isinstance(inner, KeptAliveTransport) or not isinstance(endpoint, str)
            or not endpoint.startswith("http://")):
        return False
    client._transport = KeptAliveTransport(inner)  # type: ignore[union-attr]
    return True
