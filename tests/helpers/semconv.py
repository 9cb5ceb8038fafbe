"""The names the installed semantic conventions define, and the project's own namespace: what every
emitted name must be one of (tests/integration/test_names.py in process, the pipeline test after
the Collector)."""

from __future__ import annotations

import importlib
from pathlib import Path

import opentelemetry.semconv

PROJECT = "llm_obs."


def semconv_names() -> set[str]:
    """Every attribute and metric name the installed semantic conventions define (stable and
    incubating; ``_incubating`` is a namespace package, which pkgutil does not walk: read the files)."""
    root = Path(opentelemetry.semconv.__path__[0])
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if not path.stem.endswith(("_attributes", "_metrics")):
            continue
        module = ".".join(("opentelemetry", "semconv", *path.relative_to(root).with_suffix("").parts))
        for key, value in vars(importlib.import_module(module)).items():
            if key.isupper() and isinstance(value, str) and "." in value:
                names.add(value)
    return names
