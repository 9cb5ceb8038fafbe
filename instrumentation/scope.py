"""The instrumentation scope every tracer and meter of the service is created with: name, version, schema URL.

Every ``get_tracer``/``get_meter`` goes through ``tracer``/``meter`` here, so each scope carries the
project's version and the semantic-conventions schema its names follow (semconv 1.44): a backend
can tell which conventions a span or metric was written to, and translate when they change.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import Tracer, TracerProvider

from instrumentation.pins import installed

SCHEMA_URL: Final = Schemas.V1_44_0.value  # the semconv version the names of this project follow


# "0.0.0": lifted into another app, or run from a bare checkout.
VERSION: Final = installed("llm-observability-stack") or "0.0.0"


def scoped_tracer(provider: TracerProvider, name: str) -> Tracer:
    return provider.get_tracer(name, VERSION, schema_url=SCHEMA_URL)


def scoped_meter(provider: MeterProvider, name: str) -> Meter:
    return provider.get_meter(name, VERSION, schema_url=SCHEMA_URL)
