"""The in-process tier: LRU, bounded by entries and by bytes, with per-entry expiry."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple


class Freed(NamedTuple):
    """What a purge or a clear removed from the tier."""

    entries: int
    bytes: int


class MemoryTier:
    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            blob, expires = item
            if expires <= self._clock():
                self._remove(key)
                return None
            self._data.move_to_end(key)
            return blob

    def set(self, key: str, blob: bytes, ttl_s: float) -> None:
        size = self._size(key, blob)
        if size > self.max_bytes:
            self.delete(key)  # not worth caching here, but an older value must not be served either
            return
        with self._lock:
            if key in self._data:
                self._remove(key)
            self._data[key] = (blob, self._clock() + ttl_s)
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                oldest = next(iter(self._data))
                self._remove(oldest)
                self.evictions += 1

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._data:
                self._remove(key)

    def purge_expired(self) -> int:
        return self.purge().entries

    def purge(self) -> Freed:
        """Drop the expired entries now, rather than when a lookup happens to find them."""
        now = self._clock()
        with self._lock:
            before = self._bytes
            expired = [k for k, (_b, exp) in self._data.items() if exp <= now]
            for key in expired:
                self._remove(key)
            return Freed(len(expired), before - self._bytes)

    def clear(self) -> int:
        return self.drain().entries

    def drain(self) -> Freed:
        with self._lock:
            freed = Freed(len(self._data), self._bytes)
            self._data.clear()
            self._bytes = 0
            return freed

    def items(self) -> list[tuple[str, bytes, float]]:
        """The live entries as ``(key, blob, remaining TTL in seconds)``, least recently used first."""
        now = self._clock()
        with self._lock:
            return [(k, blob, exp - now) for k, (blob, exp) in self._data.items() if exp > now]

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._data)

    @property
    def entries(self) -> int:
        return len(self._data)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def _remove(self, key: str) -> None:
        blob, _exp = self._data.pop(key)
        self._bytes -= self._size(key, blob)

    @staticmethod
    def _size(key: str, blob: bytes) -> int:
        return len(key) + len(blob) + 64  # the per-entry overhead of the dict slot and tuple
