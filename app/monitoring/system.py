"""Process facts the monitoring needs: resident memory and the memory the process may use."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

_CGROUP_MAX = Path("/sys/fs/cgroup/memory.max")


_process: psutil.Process | None = None


def rss_bytes() -> int:
    # One Process object per process: building one reads /proc (about 1.5 ms), on every metric collection.
    global _process
    if _process is None or _process.pid != os.getpid():  # a forked worker reads its own memory
        _process = psutil.Process()
    return int(_process.memory_info().rss)


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
