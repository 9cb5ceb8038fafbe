"""The in-process reader's bounded, thinned history of cumulative snapshots."""

from __future__ import annotations

import itertools

import pytest

from instrumentation import Telemetry
from instrumentation.reader import SnapshotHistory, thin
from instrumentation.snapshot import Snapshot

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
NOW = 1_700_000_000.0  # a slot-aligned epoch: multiples of 3600 s and of 300 s


def every(interval: float, start: float, end: float) -> list[Snapshot]:
    count = int((end - start) // interval) + 1
    return [Snapshot(start + i * interval) for i in range(count)]


def ages(snapshots: list[Snapshot], now: float) -> list[float]:
    return [now - s.timestamp for s in snapshots]


def test_thin_keeps_every_snapshot_of_the_last_hour() -> None:
    snaps = every(10.0, NOW - HOUR, NOW)
    assert thin(snaps, NOW, WEEK) == snaps


def test_thin_keeps_one_per_five_minutes_up_to_a_day() -> None:
    snaps = every(60.0, NOW - DAY, NOW - HOUR - 60.0)  # all between 1 h and 24 h old
    kept = thin(snaps, NOW, WEEK)
    slots = [int(s.timestamp // 300) for s in kept]
    assert len(slots) == len(set(slots)), "two snapshots kept in one 5-minute slot"
    assert set(slots) == {int(s.timestamp // 300) for s in snaps}, "a 5-minute slot lost all its snapshots"
    assert 275 <= len(kept) <= 277


def test_thin_keeps_one_per_hour_beyond_a_day() -> None:
    snaps = every(60.0, NOW - 3 * DAY, NOW - DAY - 60.0)
    kept = thin(snaps, NOW, WEEK)
    hours = [int(s.timestamp // 3600) for s in kept]
    assert len(hours) == len(set(hours))
    assert set(hours) == {int(s.timestamp // 3600) for s in snaps}
    assert 47 <= len(kept) <= 49


def test_thin_drops_what_is_past_retention() -> None:
    snaps = [Snapshot(NOW - 10 * HOUR), Snapshot(NOW - 2 * HOUR), Snapshot(NOW - 60.0)]
    kept = thin(snaps, NOW, retention_s=5 * HOUR)
    assert [s.timestamp for s in kept] == [NOW - 2 * HOUR, NOW - 60.0]


def test_thin_keeps_time_order() -> None:
    kept = thin(every(60.0, NOW - 2 * DAY, NOW), NOW, WEEK)
    stamps = [s.timestamp for s in kept]
    assert stamps == sorted(stamps)


def test_a_week_at_sixty_seconds_stays_bounded(telemetry: Telemetry) -> None:
    clock = {"now": NOW}
    history = SnapshotHistory(telemetry.reader, interval_s=60.0, retention_s=168 * HOUR, clock=lambda: clock["now"])
    for i in range(int(8 * DAY // 60) + 1):  # eight days: one past retention
        clock["now"] = NOW + i * 60.0
        history.record(Snapshot(clock["now"]))
        if i % 1440 == 0:
            assert len(history) < 500
    end = clock["now"]
    snaps = history.snapshots()
    assert len(snaps) < 500
    assert len(snaps) >= 60 + 276 + 144 - 5  # about 480: thinned, not starved
    age = ages(snaps, end)
    assert max(age) <= 168 * HOUR, "a snapshot older than the retention was kept"
    assert max(age) >= 167 * HOUR, "a 168-hour window has no snapshot near its start"
    assert sum(1 for a in age if a <= HOUR) == 61  # full resolution: 0, 60, ..., 3600 s old
    # no gap in the history is wider than its tier's resolution
    assert age == sorted(age, reverse=True)
    for older, newer in itertools.pairwise(age):
        gap = older - newer
        assert gap <= (60.0 if older <= HOUR else 300.0 + 60.0 if older <= DAY else HOUR + 60.0), (older, gap)


def test_history_records_real_snapshots_from_the_reader(telemetry: Telemetry) -> None:
    clock = {"now": 500.0}
    history = SnapshotHistory(telemetry.reader, 60.0, WEEK, clock=lambda: clock["now"])
    telemetry.instruments.retry_attempts.add(2, {"llm_obs.operation": "qa"})
    snap = history.record()
    assert snap.timestamp == 500.0
    assert sum(snap.series("llm_obs.retry.attempts").values()) == 2
    assert history.snapshots() == [snap]
    assert history.memory_bytes() > 0


def test_at_or_before() -> None:
    history = SnapshotHistory(reader=None, interval_s=60.0, retention_s=WEEK)  # type: ignore[arg-type]
    assert history.at_or_before(NOW) is None
    for offset in (0.0, 60.0, 120.0):
        history.record(Snapshot(NOW + offset))
    assert history.at_or_before(NOW + 60.0).timestamp == NOW + 60.0  # type: ignore[union-attr]
    assert history.at_or_before(NOW + 119.0).timestamp == NOW + 60.0  # type: ignore[union-attr]
    assert history.at_or_before(NOW + 10_000.0).timestamp == NOW + 120.0  # type: ignore[union-attr]
    # nothing that old is kept: the oldest one answers
    assert history.at_or_before(NOW - 3600.0).timestamp == NOW  # type: ignore[union-attr]


@pytest.mark.parametrize("retention_h", [1, 25])
def test_history_never_keeps_more_than_its_retention(retention_h: int) -> None:
    history = SnapshotHistory(reader=None, interval_s=60.0, retention_s=retention_h * HOUR)  # type: ignore[arg-type]
    for i in range(int((retention_h + 2) * HOUR // 60)):
        history.record(Snapshot(NOW + i * 60.0))
    snaps = history.snapshots()
    assert snaps[-1].timestamp - snaps[0].timestamp <= retention_h * HOUR


def test_inside_pinned_every_latest_is_one_snapshot_and_outside_each_is_fresh(telemetry: Telemetry) -> None:
    history = SnapshotHistory(telemetry.reader, 60.0, WEEK)
    with history.pinned():
        first = history.latest()
        telemetry.instruments.retry_attempts.add(1, {"llm_obs.operation": "qa"})
        assert history.latest() is first  # one answer, one instant: its parts agree
    fresh = history.latest()
    assert fresh is not first
    retries = "llm_obs.retry.attempts"
    assert sum(fresh.series(retries).values()) == sum(first.series(retries).values()) + 1


async def test_concurrent_answers_each_pin_their_own_snapshot(telemetry: Telemetry) -> None:
    import asyncio

    history = SnapshotHistory(telemetry.reader, 60.0, WEEK)
    taken: list[Snapshot] = []

    async def answer(delay: float) -> tuple[Snapshot, Snapshot]:
        with history.pinned():
            await asyncio.sleep(delay)
            a = history.latest()
            taken.append(a)
            telemetry.instruments.retry_attempts.add(1, {"llm_obs.operation": "qa"})
            await asyncio.sleep(0.01)
            return a, history.latest()

    results = await asyncio.gather(answer(0.0), answer(0.005))
    assert all(a is b for a, b in results)
    assert results[0][0] is not results[1][0]


def test_series_by_name_reads_what_the_snapshot_holds() -> None:
    key = (("llm_obs.operation", "qa"),)
    snap = Snapshot(1.0, values={("a", key): 1.0, ("b", key): 2.0, ("b", ()): 3.0})
    assert dict(snap.series("b")) == {key: 2.0, (): 3.0}
    assert dict(snap.series("missing")) == {}
    assert snap.series("a") is snap.series("a")  # indexed once
    assert snap == Snapshot(1.0, values=dict(snap.values))  # the index is not part of the value


def test_through_keeps_time_order_when_a_record_overtakes_a_pinned_latest(telemetry: Telemetry) -> None:
    clock = {"now": 1000.0}
    history = SnapshotHistory(telemetry.reader, 60.0, WEEK, clock=lambda: clock["now"])
    for _ in range(3):
        history.record()
        clock["now"] += 60
    with history.pinned():
        latest = history.latest()  # t=1180
        clock["now"] += 60
        history.record()  # the history thread, during the answer: t=1240, newer than the pin
        series = history.through(0.0, latest)
    assert [s.timestamp for s in series] == [1000.0, 1060.0, 1120.0, 1180.0]


def test_replace_pickle_and_copy_do_not_carry_a_stale_index() -> None:
    import copy
    import pickle
    from dataclasses import replace

    snap = Snapshot(1.0, values={("m", ()): 1.0})
    assert dict(snap.series("m")) == {(): 1.0}  # indexed
    assert dict(replace(snap, values={("m", ()): 5.0}).series("m")) == {(): 5.0}
    assert pickle.loads(pickle.dumps(snap)) == snap
    assert dict(copy.deepcopy(snap).series("m")) == {(): 1.0}
