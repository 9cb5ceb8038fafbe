"""The bare app with the full app's dependency structure: plain ``def`` dependencies, run in the thread pool.

Not one of the three apps the ratios are defined on: it separates what the full app's plain-``def``
dependencies cost (bare -> bare-sync) from what its telemetry costs (bare-sync -> full).
"""

from __future__ import annotations

from bench.app_bare import build_app

app = build_app(sync_deps=True)
