"""OTLP log encoding straight to protobuf bytes, as ``otlp_spans`` does for spans.

Every request writes an access record, sampled or not: the official encoder (a protobuf object per
record, attribute and value, and a Resource hashed by serializing it, per record) cost about 21 µs an
access record here (about 5 µs this way), on the exporter thread but under the GIL, for every request. This
writes the same ``ExportLogsServiceRequest`` with ``otlp_spans``' wire helpers: the encoding of each
resource, scope and repeated attribute pair (method, route, status, code location) is kept and reused.
``tests/unit/test_log_export.py`` compares the output with the official encoder's message.

Records are grouped by the identity of their Resource and scope objects (one per provider and logger);
``install()`` points the OTLP/HTTP log exporter at this encoder, with the official one as the fallback
for a batch this one fails on.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk._logs import ReadableLogRecord

from instrumentation.otlp_spans import (
    _I32,
    _I64,
    _LEN,
    _VARINT,
    _any_value,
    _attributes,
    _field,
    _tag,
    _varint,
    encode_grouped,
    install_encoder,
)
from instrumentation.otlp_spans import _pack_i as _pack_fixed32
from instrumentation.otlp_spans import _pack_q as _pack_fixed64

__all__ = ["encode_logs", "install"]

_T_TIME, _T_SEVERITY, _T_FLAGS, _T_OBSERVED = _tag(1, _I64), _tag(2, _VARINT), _tag(8, _I32), _tag(11, _I64)
_T_TRACE_ID, _T_SPAN_ID = _tag(9, _LEN) + b"\x10", _tag(10, _LEN) + b"\x08"
_severity_texts: dict[str, bytes] = {}


def _record(readable: ReadableLogRecord) -> bytes:
    record = readable.log_record
    out: list[bytes] = []
    if record.timestamp:
        out += (_T_TIME, _pack_fixed64(record.timestamp))
    severity = getattr(record.severity_number, "value", 0)
    if severity:
        out += (_T_SEVERITY, _varint(severity))
    text = record.severity_text
    if text:
        encoded = _severity_texts.get(text)
        if encoded is None:
            encoded = _severity_texts[text] = _field(3, text.encode())
        out.append(encoded)
    body = record.body
    if type(body) is str:  # a logged line: the AnyValue's string field, without the general dispatch
        out.append(_field(5, _field(1, body.encode())))
    elif body is not None:
        out.append(_field(5, _any_value(body)))
    out.append(_attributes(6, record.attributes))
    if readable.dropped_attributes:
        out += (_tag(7, _VARINT), _varint(readable.dropped_attributes))
    flags = int(record.trace_flags or 0)
    if flags:
        out += (_T_FLAGS, _pack_fixed32(flags))
    if record.trace_id:
        out += (_T_TRACE_ID, record.trace_id.to_bytes(16, "big"))
    if record.span_id:
        out += (_T_SPAN_ID, record.span_id.to_bytes(8, "big"))
    if record.observed_timestamp:
        out += (_T_OBSERVED, _pack_fixed64(record.observed_timestamp))
    if record.event_name:
        out.append(_field(12, record.event_name.encode()))
    return b"".join(out)


def encode_logs(batch: Sequence[ReadableLogRecord]) -> bytes:
    """A serialized ``ExportLogsServiceRequest``: records grouped by resource, then by scope, in order."""
    return encode_grouped(batch, _record)


def install() -> None:
    """Make the OTLP/HTTP log exporter encode with ``encode_logs`` (its module calls ``encode_logs``)."""
    from opentelemetry.exporter.otlp.proto.http import _log_exporter

    install_encoder(_log_exporter, "encode_logs", encode_logs)
