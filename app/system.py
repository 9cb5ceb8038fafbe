"""Process facts the monitoring needs: resident memory and the memory the process may use."""

from __future__ import annotations

from pathlib import Path

import psutil

_CGROUP_MAX = Path("/sys/fs/cgroup/memory.max")


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def memory_limit_bytes(configured_mb: float | None) -> int:
    """MEMORY_LIMIT_MB when set, else the cgroup v2 limit, else the machine's RAM."""
    if configured_mb:
        return int(configured_mb * 1e6)
    try:
        raw = _CGROUP_MAX.read_text().strip()
        if raw.isdigit():
            return int(raw)
    except OSError:
        pass
    return int(psutil.virtual_memory().total)
