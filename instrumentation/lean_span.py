"""The server span without the SDK's ``Span`` object: the SDK's decision, the SDK's ``ReadableSpan``, less work.

A sampled span costs the request far more in the SDK than its content needs: ``Tracer.start_span`` builds a
``_Span`` with a lock, a ``BoundedAttributes`` (a second lock, every value cleaned again), two ``BoundedList``
and a ``MappingProxy``; ``end()`` copies all of it into a new ``ReadableSpan`` for the processors. The server
span of ``LeanHTTPMiddleware`` holds only plain scalars the middleware built itself, so ``LeanTracer`` does
what ``Tracer.start_span`` does (tracer config, trace id, the provider's sampler with the same arguments,
the same flags, trace state and span id, the SDK's own span metrics) and records the span in a plain dict; at
the end the processors get the ``ReadableSpan`` the SDK would have given them.

Anything beyond that fast path (an event, an exception, a link, a value that is not a plain scalar, a
span-attribute limit in force) hands the span over to a real SDK ``_Span`` built from what was recorded so
far, with the same context and start time: from then on the SDK does everything, exactly as it would have.

This reads SDK internals (``Tracer.sampler``, ``_span_limits``, ``_tracer_metrics``, ``_is_enabled``, the
provider's processors, ``_Span``), so it runs only on the SDK version it was checked against (``SDK_PIN``)
and only while every span processor is one whose ``on_start``/``_on_ending`` do nothing (the SDK's batch and
simple processors): otherwise, and on any error, ``start_span`` is the tracer's own.
``tests/unit/test_lean_span.py`` compares what an exporter receives from both paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from time import time_ns
from types import MappingProxyType, TracebackType
from typing import Any, Final

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from instrumentation.pins import SDK_PIN, installed

__all__ = ["SDK_PIN", "LeanSpan", "LeanTracer"]

_log = logging.getLogger(__name__)
_PLAIN: Final = frozenset({str, bool, int, float})  # what BoundedAttributes keeps unchanged with no length limit
# Processors whose on_start and _on_ending do nothing: a span they never see until it ends loses nothing.
_QUIET_PROCESSORS: Final = (BatchSpanProcessor, SimpleSpanProcessor)
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_DEFAULT: Final = TraceFlags(TraceFlags.DEFAULT)


class LeanTracer:
    """``start_span`` of one SDK tracer, lean when it can be (see the module's docstring)."""

    def __init__(self, tracer: trace_api.Tracer, *, sdk_version: str | None = None) -> None:
        self._tracer = tracer
        version = sdk_version if sdk_version is not None else installed("opentelemetry-sdk")
        self._lean = version == SDK_PIN and type(tracer) is sdk_trace.Tracer
        self._checked: object = None  # the processor tuple last found quiet
        self._warned = False

    @property
    def lean(self) -> bool:
        """Spans take the lean path now (the pinned SDK, quiet processors, no span-attribute limit)."""
        return self._lean and self._quiet()

    def _quiet(self) -> bool:
        processor = getattr(self._tracer, "span_processor", None)
        processors = getattr(processor, "_span_processors", None)
        if processors is self._checked and processors is not None:
            return True
        limits = getattr(self._tracer, "_span_limits", None)
        quiet = (type(processor) is sdk_trace.SynchronousMultiSpanProcessor and isinstance(processors, tuple)
                 and all(type(p) in _QUIET_PROCESSORS for p in processors)
                 and limits is not None and limits.max_span_attribute_length is None
                 and isinstance(limits.max_span_attributes, int))
        self._checked = processors if quiet else None
        return quiet

    def start_span(self, name: str, context: Context | None, kind: SpanKind,
                   attributes: Mapping[str, types.AnyValue]) -> trace_api.Span:
        if self._lean and self._quiet():
            try:
                return self._start(name, context, kind, attributes)
            except Exception:  # the SDK's own path: never a request without its span
                if not self._warned:
                    self._warned = True
                    _log.warning("lean server span failed; using the SDK's spans", exc_info=True)
                self._lean = False
        return self._tracer.start_span(name, context=context, kind=kind, attributes=attributes)

    def _start(self, name: str, context: Context | None, kind: SpanKind,
               attributes: Mapping[str, types.AnyValue]) -> trace_api.Span:
        # Tracer.start_span of the pinned SDK, step for step, with links=() and start_time=None.
        tracer: Any = self._tracer
        parent: SpanContext | None = trace_api.get_current_span(context).get_span_context()
        if not tracer._is_enabled():
            return NonRecordingSpan(context=parent)  # type: ignore[arg-type]  # as the SDK: None when there is none
        ids = tracer.id_generator
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = ids.generate_trace_id()
        else:
            trace_id = parent.trace_id
        result = tracer.sampler.should_sample(context, trace_id, name, kind, attributes, ())
        decision = result.decision
        flags = _SAMPLED if decision.is_sampled() else _DEFAULT
        if (ids.is_trace_id_random() if parent is None else parent.trace_flags.random_trace_id):
            flags = TraceFlags(flags | TraceFlags.RANDOM_TRACE_ID)
        span_context = SpanContext(trace_id, ids.generate_span_id(), is_remote=False, trace_flags=flags,
                                   trace_state=result.trace_state)
        record_end = tracer._tracer_metrics.start_span(parent, decision)
        if not decision.is_recording():
            return NonRecordingSpan(context=span_context)
        return LeanSpan(tracer, name, span_context, parent, kind, result.attributes, record_end, context)


class LeanSpan(trace_api.Span):
    """A recording span kept as plain values until it ends, or handed to an SDK ``_Span`` (``_sdk``)."""

    __slots__ = ("_attrs", "_context", "_end", "_kind", "_name", "_parent", "_parent_ctx", "_record_end", "_sdk",
                 "_start", "_status", "_tracer")

    def __init__(self, tracer: Any, name: str, context: SpanContext, parent: SpanContext | None, kind: SpanKind,
                 attributes: Mapping[str, types.AnyValue] | None, record_end: Callable[[], None],
                 parent_ctx: Context | None) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._record_end = record_end
        self._parent_ctx = parent_ctx
        self._status = Status(StatusCode.UNSET)
        self._end: int | None = None
        self._sdk: sdk_trace.Span | None = None
        self._attrs: dict[str, types.AnyValue] = {}
        limit = tracer._span_limits.max_span_attributes
        if attributes and (len(attributes) > limit or any(type(v) not in _PLAIN for v in attributes.values())):
            self._attrs = dict(attributes)
            self._start = time_ns()
            self._handover()
            return
        if attributes:
            self._attrs.update(attributes)
        self._start = time_ns()

    # -- the SDK's span, when the fast path is left

    def _handover(self) -> sdk_trace.Span:
        """A real SDK span with what was recorded so far: the SDK does the rest."""
        if self._sdk is None:
            tracer = self._tracer
            span = sdk_trace._Span(
                name=self._name, context=self._context, parent=self._parent, sampler=tracer.sampler,
                resource=tracer.resource, attributes=self._attrs, span_processor=tracer.span_processor,
                kind=self._kind, links=(), instrumentation_info=tracer.instrumentation_info,
                limits=tracer._span_limits, instrumentation_scope=tracer._instrumentation_scope,
                record_end_metrics=self._record_end)
            span.start(start_time=self._start, parent_context=self._parent_ctx)
            if self._status.status_code is not StatusCode.UNSET:
                span.set_status(self._status)
            self._sdk = span
        return self._sdk

    def _slow(self, what: str) -> sdk_trace.Span | None:
        """The SDK's span for a call the fast path does not take; None (and the SDK's warning) once ended."""
        if self._sdk is None and self._end is not None:
            _log.warning("Tried calling %s on an ended span.", what)
            return None
        return self._handover()

    # -- the Span API

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._sdk.is_recording() if self._sdk is not None else self._end is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._sdk is not None:
            self._sdk.set_attribute(key, value)
        elif self._end is not None:
            _log.warning("Setting attribute on ended span.")
        elif not self._put(key, value):
            self._handover().set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._sdk is None and self._end is not None:
            _log.warning("Setting attribute on ended span.")
        elif self._sdk is not None or not all(type(v) in _PLAIN for v in attributes.values()):
            self._handover().set_attributes(attributes)  # cleaned and counted as one batch, as the SDK does
        else:
            for key, value in attributes.items():
                if not self._put(key, value):
                    self._handover().set_attribute(key, value)

    def _put(self, key: str, value: types.AnyValue) -> bool:
        """``BoundedAttributes.__setitem__`` for a plain value that needs no cleaning; False: not taken."""
        if type(value) not in _PLAIN or type(key) is not str or not key:
            return False
        attrs = self._attrs
        if key in attrs:  # as BoundedAttributes: a key set again moves to the end
            del attrs[key]
        elif len(attrs) >= self._tracer._span_limits.max_span_attributes:
            return False  # full: the SDK drops the oldest and counts it
        attrs[key] = value
        return True

    def update_name(self, name: str) -> None:
        if self._sdk is not None:
            self._sdk.update_name(name)
        elif self._end is not None:
            _log.warning("Tried calling update_name on an ended span.")
        else:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._sdk is not None or (isinstance(status, Status) and description is not None):
            span = self._slow("set_status")
            if span is not None:
                span.set_status(status, description)  # the SDK warns about the description
            return
        if self._end is not None:
            _log.warning("Tried calling set_status on an ended span.")
            return
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif isinstance(status, StatusCode) and status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        span = self._slow("add_event")
        if span is not None:
            span.add_event(name, attributes, timestamp)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        span = self._slow("add_link")
        if span is not None:
            span.add_link(context, attributes)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        span = self._slow("record_exception")
        if span is not None:
            span.record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        if self._sdk is not None:
            self._sdk.end(end_time)
            return
        if self._end is not None:
            _log.warning("Calling end() on an ended span.")
            return
        self._end = end_time if end_time is not None else time_ns()
        self._record_end()
        tracer = self._tracer
        # _Span.end: the processors' _on_ending (a no-op for the quiet ones), then on_end with its ReadableSpan.
        tracer.span_processor.on_end(sdk_trace.ReadableSpan(
            name=self._name, context=self._context, parent=self._parent, resource=tracer.resource,
            attributes=self._attrs, events=(), links=(), kind=self._kind, status=self._status,
            start_time=self._start, end_time=self._end, instrumentation_info=tracer.instrumentation_info,
            instrumentation_scope=tracer._instrumentation_scope))

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        if exc_val is not None and self.is_recording():
            self._handover().__exit__(exc_type, exc_val, exc_tb)  # the SDK records it and sets the status
        else:
            self.end()

    # -- what an SDK span also answers (ReadableSpan), for code that reads the current span

    @property
    def name(self) -> str:
        return self._sdk.name if self._sdk is not None else self._name

    @property
    def kind(self) -> SpanKind:
        return self._kind

    @property
    def parent(self) -> SpanContext | None:
        return self._parent

    @property
    def attributes(self) -> Mapping[str, types.AnyValue]:
        return self._sdk.attributes or {} if self._sdk is not None else MappingProxyType(self._attrs)

    @property
    def events(self) -> Sequence[Any]:
        return self._sdk.events if self._sdk is not None else ()

    @property
    def links(self) -> Sequence[Link]:
        return self._sdk.links if self._sdk is not None else ()

    @property
    def status(self) -> Status:
        return self._sdk.status if self._sdk is not None else self._status

    @property
    def start_time(self) -> int | None:
        return self._start

    @property
    def end_time(self) -> int | None:
        return self._sdk.end_time if self._sdk is not None else self._end

    def __repr__(self) -> str:
        return f'LeanSpan(name="{self.name}", context={self._context})'
