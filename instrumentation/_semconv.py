"""Opt in to the stable HTTP and database semantic conventions before any instrumentor reads it.

The contrib instrumentors read ``OTEL_SEMCONV_STABILITY_OPT_IN`` once, on first use; without ``http``
they emit the old ``http.server.duration`` in milliseconds, which no dashboard of ours queries.
"""

from __future__ import annotations

import os

_REQUIRED = ("http", "database")


def ensure_stable_semconv() -> None:
    current = [v.strip() for v in os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",") if v.strip()]
    for signal in _REQUIRED:
        if signal not in current and f"{signal}/dup" not in current:
            current.append(signal)
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = ",".join(current)
