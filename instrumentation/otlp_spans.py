"""OTLP span encoding straight to protobuf bytes, off the request path but on the GIL.

The OTLP/HTTP exporter builds a protobuf object tree per batch (a message per span, per attribute, per
value) and serializes it: about 95 µs a span here, pure Python on the exporter thread. While it runs the
event loop waits for the GIL (up to the 5 ms switch interval at a time), so a batch of 64 spans was a
~6 ms stall for every request in flight: the p99 of the service under load. This writes the same
``ExportTraceServiceRequest`` directly in the protobuf wire format, with the encoding of each resource,
scope and attribute (key, value) pair kept and reused: spans of one service repeat the same few
attributes (method, route, status, server address, ...). ``tests/unit/test_otlp_spans.py`` parses the
output with the official protobuf classes and compares it with the official encoder's message.

One difference that no backend sees: spans are grouped into ``ResourceSpans``/``ScopeSpans`` by the
identity of their Resource and scope objects (one per provider and tracer), where the official encoder
groups equal ones; two providers with equal resources give two ``ResourceSpans`` here.

``install()`` points the OTLP/HTTP span exporter at this encoder. Whatever this encoder cannot handle
(a batch it fails on) is encoded by the official encoder: never a lost batch.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

__all__ = ["encode_spans", "install"]

_log = logging.getLogger(__name__)

_LEN, _VARINT, _I64, _I32 = 2, 0, 1, 5
_MAX_CACHED = 4096  # attribute pairs and resources/scopes kept encoded; past this the cache starts over
_MAX_CACHED_TEXT = 256  # longer strings (a long path, opted-in prompt text) are encoded each time, not kept
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack
_pack_i = struct.Struct("<I").pack
# SpanKind -> the OTLP enum (SPAN_KIND_INTERNAL = 1, SERVER, CLIENT, PRODUCER, CONSUMER)
_KINDS = {SpanKind.INTERNAL: 1, SpanKind.SERVER: 2, SpanKind.CLIENT: 3, SpanKind.PRODUCER: 4,
          SpanKind.CONSUMER: 5}
_FLAGS_HAS_IS_REMOTE, _FLAGS_IS_REMOTE = 0x100, 0x200


_ONE_BYTE = tuple(bytes((n,)) for n in range(0x80))  # the varints of 0..127, the commonest lengths


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if value < 0:
        value &= (1 << 64) - 1  # int64: two's complement, ten bytes
    elif value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


# Length-delimited tags of the fields 0..15 (one byte each): ``_field`` is called per attribute and per record.
_LEN_TAGS = tuple(_tag(n, _LEN) for n in range(16))


def _field(field: int, payload: bytes) -> bytes:
    """A length-delimited field: strings, bytes and sub-messages."""
    size = len(payload)
    return ((_LEN_TAGS[field] if field < 16 else _tag(field, _LEN))
            + (_ONE_BYTE[size] if size < 0x80 else _varint(size)) + payload)


_T_TRACE_ID, _T_SPAN_ID, _T_STATE, _T_PARENT = _tag(1, _LEN), _tag(2, _LEN), _tag(3, _LEN), _tag(4, _LEN)
_T_START, _T_END, _T_FLAGS = _tag(7, _I64), _tag(8, _I64), _tag(16, _I32)
_T_EVENT_TIME = _tag(1, _I64)
_T_LINK_FLAGS = _tag(6, _I32)


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message, as ``_encode_value`` of the official encoder builds it."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return _tag(2, _VARINT) + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _field(1, value.encode())
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:  # as the official encoder: refused, the attribute skipped
            raise ValueError(f"Value out of range: {value}")
        return _tag(3, _VARINT) + _varint(value)
    if isinstance(value, float):
        return _tag(4, _I64) + _pack_d(value)
    if isinstance(value, bytes):
        return _field(7, value)
    if isinstance(value, Sequence):
        return _field(5, b"".join(_field(1, _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(6, b"".join(_field(1, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    return _field(1, key.encode()) + _field(2, _any_value(value))


def _pair(field: int, key: str, value: Any) -> bytes:
    return _field(field, _key_value(key, value))


# Encoded attributes by (field, key, type, value), started over when full: bounded whatever the values.
_pairs: dict[tuple[int, str, type, Any], bytes] = {}
# Resources and scopes by identity: a Resource hashes by serializing its attributes, on every lookup.
# The object is kept with its encoding, so its id cannot be reused by another while it is cached.
_blocks: dict[int, tuple[Any, bytes]] = {}
# The bytes of a float attribute's pair before its value, by (field, key).
_float_prefixes: dict[tuple[int, str], bytes] = {}


def _block(obj: Any, build: Callable[[], bytes]) -> bytes:
    found = _blocks.get(id(obj))
    if found is not None and found[0] is obj:
        return found[1]
    if len(_blocks) >= _MAX_CACHED:
        _blocks.clear()
    encoded = build()
    _blocks[id(obj)] = (obj, encoded)
    return encoded


def _attributes(field: int, attributes: Mapping[str, Any] | None) -> bytes:
    """Repeated ``KeyValue`` in ``field``; an attribute that cannot be encoded is skipped and logged."""
    if not attributes:
        return b""
    parts = []
    for key, value in attributes.items():
        kind = type(value)  # exact types only: a subclass (an enum, numpy's float64) takes the general path
        try:
            if kind is float:
                # Not kept (0.0 and -0.0 are equal keys, a duration never repeats): only what precedes the
                # 8 bytes of the double, which depends on the key alone.
                prefix = _float_prefixes.get((field, key))
                if prefix is None:
                    if len(_float_prefixes) >= _MAX_CACHED:
                        _float_prefixes.clear()
                    prefix = _float_prefixes[(field, key)] = _pair(field, key, 0.0)[:-8]
                parts.append(prefix + _pack_d(value))
            elif kind is int or kind is bool or value is None or (kind is str and len(value) <= _MAX_CACHED_TEXT):
                # (type, value): True and 1 are equal keys of a dict, not equal encodings.
                cache_key = (field, key, kind, value)
                encoded = _pairs.get(cache_key)
                if encoded is None:
                    if len(_pairs) >= _MAX_CACHED:
                        _pairs.clear()
                    _pairs[cache_key] = encoded = _pair(field, key, value)
                parts.append(encoded)
            else:  # long strings, subclasses, sequences and mappings: built each time
                parts.append(_field(field, _key_value(key, value)))
        except Exception as error:
            _log.exception("Failed to encode key %s: %s", key, error)
    return b"".join(parts)


def _resource(resource: Any) -> bytes:
    return _block(resource, lambda: _attributes(1, resource.attributes))


def _scope(scope: Any) -> bytes:
    def build() -> bytes:
        if scope is None:
            return b""
        out = _field(1, scope.name.encode()) if scope.name else b""
        if scope.version:
            out += _field(2, scope.version.encode())
        return out + _attributes(3, scope.attributes)

    return _block(scope, build)


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None
    out = [_T_TRACE_ID, b"\x10", context.trace_id.to_bytes(16, "big"),
           _T_SPAN_ID, b"\x08", context.span_id.to_bytes(8, "big")]
    state = context.trace_state
    if state:
        out.append(_field(3, ",".join(f"{k}={v}" for k, v in state.items()).encode()))
    parent = span.parent
    if parent:
        out += (_T_PARENT, b"\x08", parent.span_id.to_bytes(8, "big"))
    if span.name:
        out.append(_field(5, span.name.encode()))
    out += (_tag(6, _VARINT), _varint(_KINDS[span.kind]),
            _T_START, _pack_q(span.start_time or 0), _T_END, _pack_q(span.end_time or 0),
            _attributes(9, span.attributes))
    if span.dropped_attributes:
        out += (_tag(10, _VARINT), _varint(span.dropped_attributes))
    for event in span.events:
        body = _T_EVENT_TIME + _pack_q(event.timestamp) + (_field(2, event.name.encode()) if event.name else b"")
        body += _attributes(3, event.attributes)
        if event.dropped_attributes:
            body += _tag(4, _VARINT) + _varint(event.dropped_attributes)
        out.append(_field(11, body))
    if span.dropped_events:
        out += (_tag(12, _VARINT), _varint(span.dropped_events))
    for link in span.links:
        body = (_T_TRACE_ID + b"\x10" + link.context.trace_id.to_bytes(16, "big")
                + _T_SPAN_ID + b"\x08" + link.context.span_id.to_bytes(8, "big") + _attributes(4, link.attributes))
        if link.dropped_attributes:
            body += _tag(5, _VARINT) + _varint(link.dropped_attributes)
        body += _T_LINK_FLAGS + _pack_i(_flags(link.context))
        out.append(_field(13, body))
    if span.dropped_links:
        out += (_tag(14, _VARINT), _varint(span.dropped_links))
    status = span.status
    if status is not None:  # always present in the official encoding, even when UNSET (an empty message)
        body = _field(2, status.description.encode()) if status.description else b""
        code = status.status_code.value
        if code:
            body += _tag(3, _VARINT) + _varint(code)
        out.append(_field(15, body))
    out += (_T_FLAGS, _pack_i(_flags(parent)))
    return b"".join(out)


def _flags(parent: Any) -> int:
    return _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if parent is not None and parent.is_remote else 0)


def encode_grouped(items: Sequence[Any], encode: Callable[[Any], bytes]) -> bytes:
    """An export request: ``encode(item)`` of each item (span, log record), grouped by resource, then scope.

    ``Resource{Spans,Logs}`` and ``Scope{Spans,Logs}`` share their field numbers: resource or scope 1,
    the next level 2, schema URL 3. Grouped by identity: every item of a provider shares its Resource and
    its tracer's (logger's) scope objects.
    """
    grouped: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
    last: tuple[Any, Any, list[bytes]] = (None, None, [])  # the previous item's resource, scope and list
    for item in items:
        resource, scope = item.resource, item.instrumentation_scope or None
        if resource is last[0] and scope is last[1] and resource is not None:  # most items: as the one before
            encoded = last[2]
        else:
            scopes = grouped.setdefault(id(resource), (resource, {}))[1]
            encoded = scopes.setdefault(id(scope), (scope, []))[1]
            last = (resource, scope, encoded)
        encoded.append(_field(2, encode(item)))
    out = []
    for resource, scopes in grouped.values():
        body = [_field(1, _resource(resource))]
        for scope, encoded in scopes.values():
            scope_body = _field(1, _scope(scope)) + b"".join(encoded)
            if scope is not None and scope.schema_url:
                scope_body += _field(3, scope.schema_url.encode())
            body.append(_field(2, scope_body))
        if resource.schema_url:
            body.append(_field(3, resource.schema_url.encode()))
        out.append(_field(1, b"".join(body)))
    return b"".join(out)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """A serialized ``ExportTraceServiceRequest``: spans grouped by resource, then by scope, in order."""
    return encode_grouped(spans, _span)


class _Encoded:
    """What an OTLP/HTTP exporter expects of its ``encode_*(batch)``: a message it serializes."""

    __slots__ = ("_batch", "_fast", "_official")

    def __init__(self, batch: Sequence[Any], fast: Callable[[Sequence[Any]], bytes],
                 official: Callable[[Sequence[Any]], Any]) -> None:
        self._batch, self._fast, self._official = batch, fast, official

    def SerializeToString(self) -> bytes:  # the protobuf methods the exporters call
        try:
            return self._fast(self._batch)
        except Exception:
            _log.warning("fast OTLP encoding failed; using the official encoder for this batch", exc_info=True)
            return bytes(self._official(self._batch).SerializeToString())

    SerializePartialToString = SerializeToString


def install_encoder(module: Any, name: str, fast: Callable[[Sequence[Any]], bytes]) -> None:
    """Make ``module.name`` (an exporter module's ``encode_*``) encode with ``fast``, the official one kept as
    the fallback for a batch ``fast`` fails on. Once: installing again changes nothing."""
    official = getattr(module, name)
    if getattr(official, "_fast", None) is not None:
        return

    def encode(batch: Sequence[Any]) -> _Encoded:
        return _Encoded(batch, fast, official)

    encode._fast = fast  # type: ignore[attr-defined]
    setattr(module, name, encode)


def install() -> None:
    """Make the OTLP/HTTP span exporter encode with ``encode_spans`` (its module calls ``encode_spans``)."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    install_encoder(trace_exporter, "encode_spans", encode_spans)
