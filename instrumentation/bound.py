"""Bound instruments: one synchronous instrument with one fixed attribute set, resolved once.

The SDK's ``Histogram.record`` / ``Counter.add`` does, on every call, what only depends on the attribute
set: it copies and cleans the attributes (``Measurement.__post_init__``), hashes them into an
aggregation key, and looks the aggregation up in every reader's storage; about 13 µs a record here,
more than the rest of a cache hit's telemetry together. The hot paths of the service record the same
few attribute sets over and over (one per route and status, per cache outcome), so a bound instrument
does that work once and each record is then: the exemplar filter, one ``Measurement``, and the
aggregations' own ``aggregate`` (their locks, buckets and exemplar reservoirs, unchanged).

What a record produces is exactly what the SDK's own path produces (``tests/unit/test_bound.py``
compares the collected points, exemplars included). The binding reads private parts of the SDK
(pinned in pyproject.toml); when they are not as expected (another SDK version, the no-op provider, a
disabled instrument, delta temporality, whose aggregations are replaced at each collection) the bound
instrument falls back to the public call, so it is never wrong, at worst as slow as the SDK. A reader
added later (``_reader_storages`` replaced) is noticed on the next record and the binding redone.
"""

from __future__ import annotations

import logging
import math
from time import time_ns
from typing import Any, Protocol

from opentelemetry.context import Context, get_current
from opentelemetry.metrics import Counter, Histogram
from opentelemetry.util.types import Attributes

__all__ = ["BoundCounter", "BoundHistogram", "bind_counter", "bind_histogram"]

_log = logging.getLogger(__name__)


class _Aggregation(Protocol):
    def aggregate(self, measurement: Any, should_sample_exemplar: bool = True) -> None: ...


class _Measurement:
    """What an aggregation and its exemplar reservoir read of the SDK's ``Measurement``, without the cost
    of building a frozen dataclass (and cleaning its attributes) per record."""

    __slots__ = ("attributes", "context", "instrument", "time_unix_nano", "value")

    def __init__(self, value: float, time_unix_nano: int, instrument: Any, context: Context,
                 attributes: Attributes) -> None:
        self.value = value
        self.time_unix_nano = time_unix_nano
        self.instrument = instrument
        self.context = context
        self.attributes = attributes


_Binding = tuple[Any, tuple[_Aggregation, ...] | None]  # (the reader storages it was made for, aggregations)


class _Bound:
    __slots__ = ("_attributes", "_binding", "_consumer", "_instrument")

    def __init__(self, instrument: Any, attributes: Attributes) -> None:
        self._instrument = instrument
        self._attributes = dict(attributes or {})
        self._consumer: Any = getattr(instrument, "_measurement_consumer", None)  # None: the API's no-op
        # Made at the first record, not here: resolving creates the aggregation, and an aggregation
        # never recorded to would still export a zero point at every collection (the SDK makes none).
        self._binding: _Binding | None = None
        if self._consumer is not None:
            try:  # cleaned once, as the SDK's Measurement cleans them on every record
                from opentelemetry.sdk.metrics._internal.measurement import Measurement

                self._attributes = dict(Measurement(0, 0, instrument, Context(), self._attributes).attributes or {})
            except Exception:
                self._consumer = None  # not the SDK this was written against: the public path

    @property
    def attributes(self) -> dict[str, Any]:
        """The attribute set it records with (a copy)."""
        return dict(self._attributes)

    def _bind(self, storages: Any) -> _Binding:
        try:
            return storages, self._resolve(storages)
        except Exception:  # an SDK that is not the one this was written against: the public path
            _log.debug("binding %r failed; using the SDK's record path", self._instrument, exc_info=True)
            return storages, None

    def _resolve(self, storages: Any) -> tuple[_Aggregation, ...] | None:
        from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes

        matches = [match for storage in storages.values()
                   for match in storage._get_or_init_view_instrument_match(self._instrument)]
        if any(match._reset_on_collect for match in matches):
            return None  # delta: the aggregation object changes at every collection
        aggregations: list[_Aggregation] = []
        for match in matches:
            attributes = dict(self._attributes)
            if match._view._attribute_keys is not None:
                attributes = {k: v for k, v in attributes.items() if k in match._view._attribute_keys}
            with match._lock:  # the same call, under the same lock, as the SDK's first record makes
                aggregations.append(match._get_or_create_aggregation(_hash_attributes(attributes), attributes))
        return tuple(aggregations)

    def _aggregate(self, amount: float, context: Context | None) -> bool:
        """Record through the binding; False when the caller must take the public path."""
        consumer = self._consumer
        if consumer is None or not self._instrument._is_enabled():  # a MeterConfigurator may disable it
            return False
        binding = self._binding  # read once: another thread may rebind meanwhile
        storages = consumer._reader_storages
        if binding is None or binding[0] is not storages:  # the first record, or a reader added or removed
            self._binding = binding = self._bind(storages)
        aggregations = binding[1]
        if aggregations is None:
            return False
        context = context or get_current()
        now = time_ns()
        attributes = self._attributes
        measurement = _Measurement(amount, now, self._instrument, context, attributes)
        sample = consumer._sdk_config.exemplar_filter.should_sample(amount, now, attributes, context)
        for aggregation in aggregations:
            aggregation.aggregate(measurement, sample)
        return True


class BoundHistogram(_Bound):
    __slots__ = ()

    def record(self, amount: float, context: Context | None = None) -> None:
        if not math.isfinite(amount) or amount < 0 or not self._aggregate(amount, context):
            # The SDK warns about (and drops) non-finite and negative amounts: its path, its message.
            self._instrument.record(amount, self._attributes, context=context)


class BoundCounter(_Bound):
    __slots__ = ()

    def add(self, amount: int | float, context: Context | None = None) -> None:
        if not math.isfinite(amount) or amount < 0 or not self._aggregate(amount, context):
            self._instrument.add(amount, self._attributes, context=context)


def bind_histogram(histogram: Histogram, attributes: Attributes) -> BoundHistogram:
    return BoundHistogram(histogram, attributes)


def bind_counter(counter: Counter, attributes: Attributes) -> BoundCounter:
    return BoundCounter(counter, attributes)
