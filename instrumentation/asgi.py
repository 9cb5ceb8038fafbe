"""Lean HTTP server instrumentation: one SERVER span and one duration record per request, pure ASGI.

What the stock ``FastAPIInstrumentor`` does, on the stable HTTP semantic conventions, at a fraction of
its cost (DESIGN.md, "The telemetry budget per request"):

- one ``SERVER`` span named ``"{method} {route}"``, parented on the incoming W3C trace context (any
  propagator set globally) and made current for the handler, so Redis, HTTPX and GenAI spans are its
  children and log records carry its trace id;
- one ``http.server.request.duration`` record (s, semconv buckets), made inside the span's context so
  a sampled request leaves its trace id on the histogram point as an exemplar;
- one access log record (``instrumentation.access``), written while the span is current.

The route is the template of the route Starlette matched (``scope["route"]``, set during routing),
never the raw path. Attribute sets are built once per request shape and reused: the span's per (method,
path, query, host, user agent, client address), the duration's per (method, route, status, ...), bound to its
aggregation once (``instrumentation.bound``).
Nothing per message: no ``http send``/``http receive`` spans, no body-size histograms, no
``http.server.active_requests`` (each of those is a further record on every request).

URLs matching ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` (or ``OTEL_PYTHON_EXCLUDED_URLS``) get no span but
keep their duration record. Telemetry never breaks a request: failures of the instrumentation itself are
logged once and the request goes on.
"""

from __future__ import annotations

import logging
import os
from contextvars import Token
from time import perf_counter
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.http import ExcludeList, parse_excluded_urls
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from instrumentation.access import log_access
from instrumentation.bound import BoundHistogram, bind_histogram
from instrumentation.instruments import HTTP_SERVER_DURATION
from instrumentation.lean_span import LeanTracer
from instrumentation.redact import redact_query
from instrumentation.scope import scoped_meter, scoped_tracer

__all__ = ["HTTP_DURATION_BUCKETS", "LeanHTTPMiddleware"]

SCOPE_NAME: Final = "instrumentation.asgi"
# Semconv advice for http.server.request.duration.
HTTP_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Methods reported as they are; anything else is "_OTHER" (semconv), which keeps the cardinality bounded.
KNOWN_METHODS: Final = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
                                  "QUERY"})
_MAX_CACHED: Final = 1024  # attribute sets kept (span, metric); past this they are built per request

_log = logging.getLogger(__name__)
_AttrKey = tuple[str, str | None, int, str | None, str, str]
# What a server span's attributes depend on: method, path, query, host (or server), agent, client, scheme, version.
_Shape = tuple[str, str, bytes, bytes | str, bytes | None, str | None, str, str]
_Attrs = dict[str, AttributeValue]


class LeanHTTPMiddleware:
    """The outermost ASGI middleware of an app: traces and measures every HTTP request."""

    def __init__(self, app: ASGIApp, tracer_provider: TracerProvider, meter_provider: MeterProvider,
                 excluded_urls: ExcludeList | None = None) -> None:
        self.app = app
        self._tracer = LeanTracer(scoped_tracer(tracer_provider, SCOPE_NAME))  # the SDK's decision, less work
        self._duration = scoped_meter(meter_provider, SCOPE_NAME).create_histogram(
            HTTP_SERVER_DURATION, unit="s", description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=list(HTTP_DURATION_BUCKETS))
        self._excluded = excluded_urls if excluded_urls is not None else excluded_from_environment()
        self._durations: dict[_AttrKey, BoundHistogram] = {}
        self._span_attrs: dict[_Shape, _Attrs] = {}
        self._textmap: object = None
        self._fields: frozenset[bytes] = frozenset()
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        span: Span | None = None
        ctx: Context | None = None
        token: Token[Context] | None = None
        try:
            span, ctx = self._start(scope)
            if ctx is not None:
                token = otel_context.attach(ctx)
        except Exception:  # the request goes on untraced
            self._failed("starting the server span")
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                self._finish(scope, span, ctx, perf_counter() - start, status, error)
            except Exception:
                self._failed("ending the server span")
            finally:
                if token is not None:
                    otel_context.detach(token)

    # -- start: parent context, span, attributes available before the handler runs

    def _start(self, scope: Scope) -> tuple[Span | None, Context | None]:
        if self._excluded is not None and self._excluded.url_disabled(_url(scope)):
            return None, None
        fields = self._propagation_fields()
        host = agent = None
        carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"user-agent":
                agent = value
            elif name in fields:
                if carrier is None:
                    carrier = {}
                key = name.decode("latin-1")
                text = value.decode("latin-1")
                carrier[key] = f"{carrier[key]},{text}" if key in carrier else text
        parent = propagate.extract(carrier) if carrier else None
        method = scope["method"]
        client = scope.get("client")
        # With no Host header server.address/port come from the listener: it is then part of the shape.
        shape = (method, scope["path"], scope.get("query_string", b""),
                 host if host is not None else repr(scope.get("server")), agent,
                 client[0] if client else None, scope.get("scheme", "http"), scope.get("http_version", "1.1"))
        attrs = self._span_attrs.get(shape)
        if attrs is None:
            # The SDK copies what it keeps (only a sampled span keeps anything): one dict serves every
            # request of the same shape, so an unsampled request builds none.
            attrs = self._span_attributes(shape, scope)
            if len(self._span_attrs) < _MAX_CACHED:
                self._span_attrs[shape] = attrs
        span = self._tracer.start_span(method if method in KNOWN_METHODS else "HTTP", parent, SpanKind.SERVER, attrs)
        return span, trace.set_span_in_context(span, parent)

    def _span_attributes(self, shape: _Shape, scope: Scope) -> _Attrs:
        method, path, query, host_or_server, agent, client, scheme, version = shape
        host = host_or_server if isinstance(host_or_server, bytes) else None
        attrs: _Attrs = {
            "http.request.method": method if method in KNOWN_METHODS else "_OTHER",
            "url.path": path,
            "url.scheme": scheme,
            "network.protocol.version": version,
        }
        if query:  # credential-named parameters masked, as in every URL we report (instrumentation.redact)
            attrs["url.query"] = redact_query(query.decode("latin-1"))
        if method not in KNOWN_METHODS:
            attrs["http.request.method_original"] = method
        address, port = self._server(host, scope)
        if address:
            attrs["server.address"] = address
        if port is not None:
            attrs["server.port"] = port
        if agent:
            attrs["user_agent.original"] = agent.decode("latin-1")
        if client:
            attrs["client.address"] = client
        return attrs

    def _propagation_fields(self) -> frozenset[bytes]:
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:  # set_global_textmap may replace it at any time
            self._fields = frozenset(f.lower().encode("latin-1") for f in textmap.fields)
            self._textmap = textmap
        return self._fields

    @staticmethod
    def _server(host: bytes | None, scope: Scope) -> tuple[str | None, int | None]:
        if host is None:
            server = scope.get("server")
            return (server[0], server[1]) if server else (None, None)
        return _split_host(host.decode("latin-1"))

    # -- finish: route, status, error, the one record

    def _finish(self, scope: Scope, span: Span | None, ctx: Context | None, elapsed: float, status: int,
                error: BaseException | None) -> None:
        route = getattr(scope.get("route"), "path", None)
        if not isinstance(route, str):
            route = None
        if error is not None and not status:
            status = 500  # what ServerErrorMiddleware answers, inside us
        error_type = type(error).__qualname__ if error is not None else (str(status) if status >= 500 else None)
        raw_method = scope["method"]
        method = raw_method if raw_method in KNOWN_METHODS else "_OTHER"
        log_access(scope, route, status, elapsed)  # while the span is current: the record carries its ids
        if span is not None:
            if span.is_recording():
                named = "HTTP" if method == "_OTHER" else method  # semconv: "{method} {route}"
                span.update_name(f"{named} {route}" if route else named)
                attrs: _Attrs = {"http.response.status_code": status} if status else {}
                if route:
                    attrs["http.route"] = route
                if error_type:
                    attrs["error.type"] = error_type
                    span.set_status(Status(StatusCode.ERROR, error_type))
                if error is not None:
                    span.record_exception(error)
                span.set_attributes(attrs)
            span.end()
        key: _AttrKey = (method, route, status, error_type, scope.get("scheme", "http"),
                         scope.get("http_version", "1.1"))
        # Inside the span's context: a sampled request's trace id becomes the point's exemplar.
        duration = self._durations.get(key)
        if duration is not None:
            duration.record(elapsed, ctx)
        elif len(self._durations) < _MAX_CACHED:
            self._durations[key] = duration = bind_histogram(self._duration, _metric_attributes(key))
            duration.record(elapsed, ctx)
        else:
            self._duration.record(elapsed, _metric_attributes(key), context=ctx)

    def _failed(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            _log.warning("HTTP instrumentation failed %s; requests are unaffected", what, exc_info=True)


def excluded_from_environment() -> ExcludeList | None:
    """``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``, else ``OTEL_PYTHON_EXCLUDED_URLS``: comma-separated regexes."""
    value = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    return parse_excluded_urls(value) if value else None


def _metric_attributes(key: _AttrKey) -> _Attrs:
    method, route, status, error_type, scheme, version = key
    attrs: _Attrs = {"http.request.method": method, "url.scheme": scheme, "network.protocol.version": version}
    if route:
        attrs["http.route"] = route
    if status:
        attrs["http.response.status_code"] = status
    if error_type:
        attrs["error.type"] = error_type
    return attrs


def _split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8000`` -> ("example.com", 8000); ``[::1]:80`` -> ("::1", 80); no port -> None."""
    if host.startswith("["):
        address, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        address, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return address, int(port) if port.isdigit() else None


def _url(scope: Scope) -> str:
    """The request URL as the stock instrumentation matches excluded URLs against it."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("0.0.0.0", 80)
        host = server[0] if server[1] == 80 else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope['path']}"
