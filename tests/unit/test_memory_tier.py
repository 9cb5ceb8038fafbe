"""The in-process cache tier: LRU, bounded by entries and by bytes, with per-entry expiry."""

from __future__ import annotations

import pytest

from app.cache.memory import MemoryTier


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tier(clock: Clock, max_entries: int = 3, max_bytes: int = 1 << 20) -> MemoryTier:
    return MemoryTier(max_entries=max_entries, max_bytes=max_bytes, clock=clock)


def test_get_after_set(clock: Clock) -> None:
    mem = tier(clock)
    mem.set("k", b"value", 60)
    assert mem.get("k") == b"value"
    assert mem.get("other") is None


def test_bounded_by_entries_evicting_the_least_recently_used(clock: Clock) -> None:
    mem = tier(clock, max_entries=3)
    for key in "abc":
        mem.set(key, key.encode(), 60)
    assert mem.get("a") == b"a"  # a is now the most recently used
    mem.set("d", b"d", 60)
    assert mem.entries == 3
    assert mem.get("b") is None  # the least recently used went
    assert [mem.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    assert mem.evictions == 1


def test_overwriting_refreshes_recency_without_growing(clock: Clock) -> None:
    mem = tier(clock, max_entries=2)
    mem.set("a", b"1", 60)
    mem.set("b", b"2", 60)
    mem.set("a", b"3", 60)
    mem.set("c", b"4", 60)
    assert mem.get("a") == b"3"
    assert mem.get("b") is None
    assert mem.evictions == 1


def test_bounded_by_bytes(clock: Clock) -> None:
    mem = tier(clock, max_entries=1000, max_bytes=1000)
    for i in range(10):
        mem.set(f"key{i}", bytes(200), 60)  # about 268 bytes each with its overhead
        assert mem.bytes_used <= 1000
    assert mem.entries == 3
    assert mem.get("key9") is not None
    assert mem.get("key0") is None


def test_bytes_are_given_back(clock: Clock) -> None:
    mem = tier(clock)
    mem.set("a", bytes(100), 60)
    used = mem.bytes_used
    assert used >= 101
    mem.set("a", bytes(10), 60)
    assert mem.bytes_used == used - 90
    mem.delete("a")
    assert (mem.bytes_used, mem.entries) == (0, 0)


def test_a_value_larger_than_the_tier_is_not_cached(clock: Clock) -> None:
    mem = tier(clock, max_bytes=1000)
    mem.set("small", b"s", 60)
    mem.set("huge", bytes(5000), 60)
    assert mem.get("huge") is None
    assert mem.get("small") == b"s"  # and it did not flush the others


def test_an_oversized_overwrite_does_not_leave_the_stale_value(clock: Clock) -> None:
    mem = tier(clock, max_bytes=1000)
    mem.set("k", b"old", 60)
    mem.set("k", bytes(5000), 60)
    assert mem.get("k") != b"old"


def test_entries_expire_after_their_ttl(clock: Clock) -> None:
    mem = tier(clock)
    mem.set("short", b"1", 10)
    mem.set("long", b"2", 100)
    clock.now = 9.9
    assert mem.get("short") == b"1"
    clock.now = 10.0
    assert mem.get("short") is None
    assert mem.entries == 1  # an expired entry found by a get is dropped
    assert mem.get("long") == b"2"


def test_purge_expired(clock: Clock) -> None:
    mem = tier(clock, max_entries=10)
    mem.set("a", b"1", 5)
    mem.set("b", b"2", 5)
    mem.set("c", b"3", 50)
    clock.now = 6.0
    assert mem.purge_expired() == 2
    assert mem.keys() == ["c"]
    assert mem.bytes_used == len("c") + 1 + 64


def test_clear(clock: Clock) -> None:
    mem = tier(clock)
    mem.set("a", b"1", 5)
    mem.set("b", b"2", 5)
    assert mem.clear() == 2
    assert (mem.entries, mem.bytes_used, mem.get("a")) == (0, 0, None)
