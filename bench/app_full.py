"""This project's service as production runs it: ``app.main:create_app()`` with settings from the environment.

The benchmark sets ``OTEL_EXPORTER_OTLP_ENDPOINT`` to its local sink, so traces and metrics are exported.
"""

from __future__ import annotations

from app.main import create_app

app = create_app()
