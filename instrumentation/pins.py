"""The library versions the shortcuts around private APIs were checked against, and what is installed.

``log_export``'s direct path and ``lean_span`` read SDK internals, ``otlp_transport`` an exporter's: each
takes its shortcut only when the installed version is its pin, and the official path otherwise.
"""

from __future__ import annotations

from importlib import metadata
from typing import Final

__all__ = ["HTTP_TRANSPORT_PIN", "SDK_PIN", "installed"]

SDK_PIN: Final = "1.45.2"  # opentelemetry-sdk (pyproject pins it: test_log_direct checks)
HTTP_TRANSPORT_PIN: Final = "0.66b2"  # opentelemetry-exporter-http-transport, with the OTLP/HTTP exporters 1.45.2


def installed(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
