"""Redis client spans on the semconv 1.44 database conventions, for one ``redis.asyncio`` client.

``instrument_client`` wraps the client's ``execute_command`` (every single command) and the ``execute``
of each pipeline it makes (a pipeline or a ``MULTI`` transaction: one round trip, one span); a pipeline
watching keys sends its immediate commands through ``immediate_execute_command``, wrapped the same way.
Per client, no global patching: several apps (tests, workers) each report to their own provider.

Each call is one ``CLIENT`` span:

- ``db.operation.name``: the command as the application gave it (``GET``, ``CONFIG GET``); for a
  pipeline or a transaction of two or more commands, ``PIPELINE``/``MULTI`` followed by the command when
  they are all the same (``PIPELINE SET``), alone otherwise (semconv's Redis page, note 1), with
  ``db.operation.batch.size``; a batch of one command is that command (semconv: "modeled as single
  operations"); an empty pipeline sends nothing and has no span;
- the span's name is ``db.operation.name``: semconv's ``{db.operation.name} {target}`` where, for Redis,
  the target (the database index) stays out of the name. Bounded: a 500-key pipeline is ``PIPELINE``;
- ``db.system.name``, ``db.namespace`` (the database index the connection was configured with, as a
  string: a later ``SELECT`` is not followed), ``server.address``/``server.port`` (the configured host
  and port, or the socket path): ``connection_attributes``, shared with ``db.client.operation.duration``;
- on failure ``error.type``, the exception's class name (``ConnectionError``, ``TimeoutError``,
  ``ResponseError``), and ``db.response.status_code``, the Redis error prefix (``WRONGTYPE``, ``ERR``)
  when the server answered one; the span's status is ERROR, described by the class name only.

Never a command's arguments: keys are requests and values are answers (user data). So no ``db.query.text``,
no exception message (Redis quotes the arguments in its errors) and no recorded exception event.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from instrumentation.scope import scoped_tracer

__all__ = ["connection_attributes", "error_attributes", "instrument_client", "operation_name"]

SCOPE_NAME: Final = "instrumentation.redis"
_MARK: Final = "_llm_obs_redis_instrumented"
_PREFIX: Final = re.compile(r"[A-Z][A-Z0-9_]*$")  # a Redis simple error prefix: ERR, WRONGTYPE, CLUSTERDOWN
_Attrs = dict[str, AttributeValue]


def connection_attributes(client: Any) -> _Attrs:
    """``db.system.name``, ``db.namespace``, ``server.address`` and ``server.port`` of a client's pool."""
    kwargs: Mapping[str, Any] = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    attrs: _Attrs = {"db.system.name": "redis", "db.namespace": str(kwargs.get("db", 0))}
    if kwargs.get("path"):  # a UNIX socket
        attrs["server.address"] = str(kwargs["path"])
    else:
        attrs["server.address"] = str(kwargs.get("host", "localhost"))
        attrs["server.port"] = int(kwargs.get("port", 6379))
    return attrs


def _command(name: object) -> str:
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return " ".join(text.split())  # semconv: consecutive spaces normalised to one


def operation_name(commands: Sequence[object], transaction: bool = False) -> str:
    """``db.operation.name`` of one command, or of a pipeline (``transaction``: a MULTI/EXEC one) of several."""
    names = {_command(c) for c in commands}
    if len(commands) == 1:
        return names.pop()
    prefix = "MULTI" if transaction else "PIPELINE"
    return f"{prefix} {names.pop()}" if len(names) == 1 else prefix


def error_attributes(exc: BaseException) -> _Attrs:
    """``error.type`` (the class name) and, when Redis answered an error, ``db.response.status_code``."""
    attrs: _Attrs = {"error.type": type(exc).__name__}
    code = getattr(exc, "status_code", None)  # redis-py sets it for the prefixes it knows (ERR, NOSCRIPT, ...)
    if not code and type(exc).__name__ == "ResponseError" and exc.args:
        first = str(exc.args[0]).split(" ", 1)[0]  # the others keep the prefix in the text: "WRONGTYPE ..."
        code = first if _PREFIX.match(first) else None
    if isinstance(code, str) and code:
        attrs["db.response.status_code"] = code
    return attrs


class _Traced:
    """The spans of one client: its connection attributes computed once, per-command attributes cached."""

    def __init__(self, tracer: Tracer, base: _Attrs) -> None:
        self._tracer = tracer
        self._base = base
        self._single: dict[str, _Attrs] = {}

    def command(self, execute: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def traced(*args: Any, **options: Any) -> Any:
            if not args:
                return await execute(*args, **options)
            name = _command(args[0])
            attrs = self._single.get(name)
            if attrs is None:
                attrs = {**self._base, "db.operation.name": name}
                if len(self._single) < 256:  # command names are few; a caller inventing them is not cached
                    self._single[name] = attrs
            return await self._run(name, attrs, lambda: execute(*args, **options))

        return traced

    def pipeline(self, pipe: Any) -> Any:
        execute = pipe.execute

        async def traced(*args: Any, **kwargs: Any) -> Any:
            stack = pipe.command_stack
            if not stack:  # nothing is sent (a watching pipeline's EXEC of nothing included)
                return await execute(*args, **kwargs)
            name = operation_name([command[0][0] for command in stack],
                                  bool(pipe.is_transaction or pipe.explicit_transaction))
            attrs = {**self._base, "db.operation.name": name}
            if len(stack) > 1:
                attrs["db.operation.batch.size"] = len(stack)
            return await self._run(name, attrs, lambda: execute(*args, **kwargs))

        setattr(pipe, "execute", traced)  # noqa: B010 (a method of this instance, replaced)
        setattr(pipe, "immediate_execute_command", self.command(pipe.immediate_execute_command))  # noqa: B010
        return pipe

    async def _run(self, name: str, attrs: _Attrs, call: Callable[[], Awaitable[Any]]) -> Any:
        with self._tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs,
                                                record_exception=False, set_status_on_exception=False) as span:
            try:
                return await call()
            except BaseException as exc:
                if span.is_recording():
                    errors = error_attributes(exc)
                    span.set_attributes(errors)
                    span.set_status(Status(StatusCode.ERROR, str(errors["error.type"])))
                raise


def instrument_client(client: Any, tracer_provider: TracerProvider) -> None:
    """Trace every command and pipeline of ``client`` (a ``redis.asyncio.Redis``); a second call does nothing."""
    if getattr(client, _MARK, False):
        return
    traced = _Traced(scoped_tracer(tracer_provider, SCOPE_NAME), connection_attributes(client))
    make_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        return traced.pipeline(make_pipeline(*args, **kwargs))

    setattr(client, "execute_command", traced.command(client.execute_command))  # noqa: B010
    setattr(client, "pipeline", pipeline)  # noqa: B010
    setattr(client, _MARK, True)
