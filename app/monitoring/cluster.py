"""The service across its instances (uvicorn workers, replicas): snapshot histories shared through Redis.

Each instance publishes the snapshots its history records to a sorted set of its own (scored by
timestamp, thinned exactly as the local history is, expiring after the retention unless refreshed)
and registers itself in a hash (instance -> host, start, last publish, interval, left). Every
instance reads the others' new snapshots on the same tick and keeps them decoded, so a runbook
request reads only memory: the service at time t is each instance's snapshot at or before t,
combined by ``combine`` (counters and histograms add up; gauges and other levels by ``GAUGE_MERGE``).

The Redis I/O runs on the history thread with a small synchronous client, not on the event loop
as ``alert_store`` does: there, records come from two threads and must land in order, so one
writer on the loop owns them; here the history thread is the only producer, the decoding of the
others' snapshots is CPU work best kept off the loop, and the alerts judged right after on the
same thread see what was just fetched. The thread already runs off the request path; short
timeouts and a pause after a failure bound what a slow or dead Redis costs it.

Who is in the view: the live instances (published within three intervals, not left) and those
that stopped while one of the live ones was already running (a crashed worker that uvicorn
replaced, a replica stopped by a rolling deploy): their requests stay counted in the windows that
cover them, as Prometheus counts them. A service restarted as a whole starts from a clean view,
as a single process does. Gauges (memory, entries, breaker state) count only while an instance is
alive: a dead worker holds no memory and no open breaker.
"""

from __future__ import annotations

import bisect
import json
import logging
import operator
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import redis
from redis.exceptions import RedisError

from instrumentation.instruments import GAUGE_MERGE
from instrumentation.reader import SnapshotHistory, thin
from instrumentation.redact import redact_text
from instrumentation.snapshot import HistogramPoint, Interner, MetricMeta, SeriesKey, Snapshot, from_json, to_json

_log = logging.getLogger(__name__)
NAMESPACE = "monitoring:cluster"
STALE_INTERVALS = 3.0  # an instance that has not published for this many intervals (+ slack) is gone


def process_name() -> str:
    """Where an instance runs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Member:
    """Another instance: its registration and its snapshots (time-ordered, decoded once)."""

    id: str
    process: str  # host:pid
    started: float
    last: float  # its last publish
    interval_s: float
    left: bool  # stopped cleanly
    snapshots: tuple[Snapshot, ...] = ()
    stamps: tuple[float, ...] = ()

    @property
    def stale_s(self) -> float:
        return STALE_INTERVALS * self.interval_s + 2.0

    def live(self, now: float) -> bool:
        return not self.left and now - self.last <= self.stale_s

    def alive_at(self, t: float, snapshot: Snapshot) -> bool:
        """Its gauges count at ``t``: this snapshot is recent at ``t`` and it had not left by then."""
        return snapshot.timestamp <= t and t - snapshot.timestamp <= self.stale_s and not (self.left and t > self.last)

    def at_or_before(self, t: float) -> Snapshot | None:
        return at_or_before(self.snapshots, self.stamps, t)

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "process": self.process, "live": self.live(now), "left": self.left,
                "last_published_seconds_ago": round(now - self.last, 3), "snapshots": len(self.snapshots)}


def at_or_before(snapshots: Sequence[Snapshot], stamps: Sequence[float], t: float) -> Snapshot | None:
    """The newest snapshot at or before ``t``, else the oldest one (the local history's rule)."""
    if not snapshots:
        return None
    index = bisect.bisect_right(stamps, t)
    return snapshots[index - 1] if index > 0 else snapshots[0]


def combine(parts: Iterable[tuple[Snapshot, bool]], timestamp: float,
            rules: Mapping[str, Literal["sum", "max"]] = GAUGE_MERGE) -> Snapshot:
    """One snapshot of several instances: ``(snapshot, its gauges count)`` each, series by series."""
    values: dict[SeriesKey, float] = {}
    histograms: dict[SeriesKey, HistogramPoint] = {}
    meta: dict[str, MetricMeta] = {}
    for snapshot, gauges in parts:
        for name, m in snapshot.meta.items():
            meta.setdefault(name, m)
        for key, value in snapshot.values.items():
            name = key[0]
            info = snapshot.meta.get(name)
            if info is not None and (info.kind == "gauge" or name in rules):  # a level, not a cumulative
                if not gauges:
                    continue
                if key in values and rules.get(name, "sum") == "max":
                    values[key] = max(values[key], value)
                    continue
            values[key] = values.get(key, 0.0) + value
        for key, point in snapshot.histograms.items():
            mine = histograms.get(key)
            histograms[key] = point if mine is None else _add(mine, point)
    return Snapshot(timestamp, values, histograms, meta)


def _add(a: HistogramPoint, b: HistogramPoint) -> HistogramPoint:
    if a.bounds != b.bounds:  # buckets changed between versions: keep the larger, as windows.add does
        return a if a.count >= b.count else b
    return HistogramPoint(a.count + b.count, a.sum + b.sum, a.bounds, tuple(map(operator.add, a.counts, b.counts)))


class MergeCache:
    """Merged snapshots of the past, by what they were merged from: the trend's edges and a window's
    start repeat from one request to the next, and only the newest point changes between ticks."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[object, ...], Snapshot] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple[object, ...], make: Callable[[], Snapshot]) -> Snapshot:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return found
        merged = make()
        with self._lock:
            self.misses += 1
            self._cache[key] = merged
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return merged


def merged_at(t: float, own: Snapshot, members: Sequence[Member], cache: MergeCache | None = None) -> Snapshot:
    """The service at ``t``: this instance's snapshot for ``t`` plus each member's at or before ``t``.

    A member younger than ``t`` adds its first snapshot (its baseline, taken before it served), so
    a window subtracts it and counts all it did since. The timestamp is the newest contribution not
    after ``t`` (else the oldest): ``Window.seconds`` is then the time the data really covers.
    """
    parts = [(own, True)]
    key: list[object] = [own.timestamp, len(own.values), len(own.histograms)]
    for member in members:
        snapshot = member.at_or_before(t)
        if snapshot is not None:
            alive = member.alive_at(t, snapshot)
            parts.append((snapshot, alive))
            key += (member.id, snapshot.timestamp, alive)
    stamps = [s.timestamp for s, _ in parts]
    timestamp = max((s for s in stamps if s <= t), default=min(stamps))
    if cache is None:
        return combine(parts, timestamp)
    return cache.get((timestamp, *key), lambda: combine(parts, timestamp))


def merged_newest(own: Snapshot, members: Sequence[Member]) -> Snapshot:
    """This instance's fresh snapshot plus every member's latest published one."""
    now = own.timestamp
    parts = [(own, True)]
    for member in members:
        latest = member.latest
        if latest is not None:
            parts.append((latest, member.live(now)))
    return combine(parts, now)


@dataclass(frozen=True)
class _Info:
    process: str
    started: float
    last: float
    interval_s: float
    left: bool

    def encode(self) -> str:
        return json.dumps({"process": self.process, "started": self.started, "last": self.last,
                           "interval": self.interval_s, "left": self.left}, separators=(",", ":"))

    @classmethod
    def decode(cls, blob: bytes | str) -> _Info:
        d = json.loads(blob)
        return cls(str(d["process"]), float(d["started"]), float(d["last"]), float(d["interval"]), bool(d["left"]))


class ClusterView:
    """Publishes this instance's history and keeps the others' (thread-safe; Redis I/O on the caller)."""

    def __init__(self, url: str, service: str, instance: str, history: SnapshotHistory, timeout_s: float,
                 retry_interval_s: float, clock: Callable[[], float] = time.time) -> None:
        # Synchronous and uninstrumented: only the history thread (and start/stop) use it, and the
        # service's own bookkeeping must not count as application Redis traffic.
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False)
        self.instance = instance
        self._history = history
        self._retention_s = history.retention_s
        self._retry_interval_s = retry_interval_s
        self._clock = clock
        self._registry = f"{NAMESPACE}:{service}:instances"
        self._prefix = f"{NAMESPACE}:{service}:snapshots:"
        self._info = _Info(process_name(), clock(), 0.0, history.interval_s, False)
        self._io = threading.Lock()  # one sync (or leave) at a time
        self._members: tuple[Member, ...] = ()  # replaced whole, read without the lock
        self._published: set[float] = set()  # timestamps of this instance's snapshots in Redis
        self._intern = Interner()
        self._retry_at = 0.0
        self._left = False
        self.available = False  # the last sync succeeded
        self.last_error: str | None = "not synced yet"
        self.synced_at: float | None = None

    # -- reading (any thread)
    def members(self) -> tuple[Member, ...] | None:
        """The other instances in the view; None when Redis cannot give it (the caller goes local)."""
        return self._members if self.available else None

    def leads(self) -> bool:
        """This instance is the one that reports cluster-wide events: the oldest live one."""
        if not self.available:
            return True  # on its own: it reports for itself
        now = self._clock()
        oldest = min(((m.started, m.id) for m in self._members if m.live(now)), default=None)
        return oldest is None or (self._info.started, self.instance) <= oldest

    # -- writing (history thread; start and stop)
    def hook(self, then: Callable[[Snapshot], object] | None) -> Callable[[Snapshot], object]:
        """An ``on_record`` hook: sync, then the previous hook (alerts judged on what was just read)."""
        def on_record(snapshot: Snapshot) -> object:
            self.sync()
            return then(snapshot) if then is not None else None
        return on_record

    def start(self) -> None:
        """A first sync off the caller's thread, so the view is there before the first tick."""
        threading.Thread(target=self.sync, name="cluster-sync", daemon=True).start()

    def sync(self) -> bool:
        """Publish this instance's unpublished snapshots, read the others' new ones; never raises."""
        with self._io:
            if self._left or self._clock() < self._retry_at:
                return False
            try:
                self._sync()
            except (RedisError, OSError) as exc:
                self._failed(exc)
                return False
            except Exception as exc:  # the history thread must outlive anything found in Redis
                _log.exception("cluster sync failed")
                self._failed(exc)
                return False
            if not self.available:
                _log.info("cluster view from Redis: %d other instance(s)", len(self._members))
            self.available, self.last_error, self.synced_at = True, None, self._clock()
            return True

    def leave(self) -> None:
        """At a clean stop: publish the final snapshot and mark this instance as left."""
        with self._io:
            self._left = True
            if self._clock() < self._retry_at:
                return
            try:
                final = self._history.latest()
                info = replace(self._info, last=final.timestamp, left=True)
                pipe = self._client.pipeline(transaction=False)
                pipe.zadd(self._key(self.instance), {to_json(final): final.timestamp})
                pipe.hset(self._registry, self.instance, info.encode())
                pipe.execute()
            except (RedisError, OSError) as exc:
                _log.warning("could not publish the final snapshot to Redis: %s", redact_text(repr(exc)))
            self.available = False
            self._client.close()

    def _failed(self, exc: BaseException) -> None:
        if self.available or self.last_error == "not synced yet":
            _log.warning("cluster view unavailable (%s): answering from this worker's history, retrying in %.0fs",
                         redact_text(repr(exc)), self._retry_interval_s)
        self.available, self.last_error = False, redact_text(f"{type(exc).__name__}: {exc}")
        self._retry_at = self._clock() + self._retry_interval_s

    def _key(self, instance: str) -> str:
        return self._prefix + instance

    def _sync(self) -> None:
        now = self._clock()
        ttl = max(1, int(self._retention_s))
        kept = self._history.snapshots()
        kept_stamps = {s.timestamp for s in kept}
        fresh = [s for s in kept if s.timestamp not in self._published]
        dropped = self._published - kept_stamps  # thinned away locally: thinned away in Redis too
        last = kept[-1].timestamp if kept else now
        info = replace(self._info, last=last)
        key = self._key(self.instance)
        pipe = self._client.pipeline(transaction=False)
        if fresh:
            pipe.zadd(key, {to_json(s): s.timestamp for s in fresh})
        for stamp in dropped:
            pipe.zremrangebyscore(key, stamp, stamp)
        pipe.zremrangebyscore(key, "-inf", f"({now - self._retention_s!r}")
        pipe.expire(key, ttl)
        pipe.hset(self._registry, self.instance, info.encode())
        pipe.expire(self._registry, ttl)
        pipe.hgetall(self._registry)
        registry: dict[bytes, bytes] = pipe.execute()[-1]
        self._published = kept_stamps if kept else self._published
        self._info = info
        self._members = self._read(registry, now)

    def _read(self, registry: Mapping[bytes, bytes], now: float) -> tuple[Member, ...]:
        infos: dict[str, _Info] = {}
        gone: list[str] = []
        for raw_id, blob in registry.items():
            instance = raw_id.decode()
            if instance == self.instance:
                continue
            try:
                info = _Info.decode(blob)
            except (ValueError, TypeError, KeyError) as exc:
                _log.warning("ignoring unreadable cluster registration %s: %r", instance, exc)
                continue
            if now - info.last > self._retention_s:
                gone.append(instance)
            else:
                infos[instance] = info
        members = {i: Member(i, info.process, info.started, info.last, info.interval_s, info.left)
                   for i, info in infos.items()}
        since = min([self._info.started, *(m.started for m in members.values() if m.live(now))])
        in_view = [m for m in members.values() if m.live(now) or m.last >= since]
        cached = {m.id: m for m in self._members}
        pipe = self._client.pipeline(transaction=False)
        for member in in_view:
            known = cached.get(member.id)
            low = f"({known.stamps[-1]!r}" if known is not None and known.stamps else "-inf"
            pipe.zrangebyscore(self._key(member.id), low, "+inf")
        if gone:
            pipe.hdel(self._registry, *gone)
        replies = pipe.execute() if in_view or gone else []
        result: list[Member] = []
        for member, blobs in zip(in_view, replies, strict=False):
            known = cached.get(member.id)
            snapshots = list(known.snapshots) if known is not None else []
            for blob in blobs:
                try:
                    snapshots.append(from_json(blob, self._intern))
                except ValueError as exc:
                    _log.warning("skipping an unreadable snapshot of instance %s: %r", member.id, exc)
            snapshots = thin(snapshots, now, self._retention_s)
            result.append(replace(member, snapshots=tuple(snapshots),
                                  stamps=tuple(s.timestamp for s in snapshots)))
        return tuple(sorted(result, key=lambda m: (m.started, m.id)))
