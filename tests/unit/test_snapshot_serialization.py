"""The wire form of a snapshot (what workers share through Redis): faithful, stable and small."""

from __future__ import annotations

import json

import pytest
from opentelemetry.metrics import Observation

from app.monitoring.measurements import measure
from app.monitoring.windows import Window
from instrumentation import Telemetry
from instrumentation.instruments import BREAKER_STATE, CACHE_ENTRIES
from instrumentation.snapshot import (
    HistogramPoint,
    Interner,
    MetricMeta,
    Snapshot,
    SnapshotFormatError,
    from_json,
    to_json,
)

from .traffic import http_histogram, request_attrs


def busy_snapshot(telemetry: Telemetry, requests: int = 30) -> Snapshot:
    """A snapshot of the real instruments after traffic: counters, histograms and gauges."""
    http = http_histogram(telemetry)
    ins = telemetry.instruments
    for i in range(requests):
        http.record(0.004 * (i % 9), request_attrs(status=500 if i % 10 == 0 else 200))
        ins.cache_lookups.add(1, {"llm_obs.cache.result": "hit" if i % 3 else "miss", "llm_obs.cache.tier": "memory"})
        ins.genai_tokens.record(100 + i, {"gen_ai.token.type": "input", "gen_ai.operation.name": "chat"})
        ins.db_duration.record(0.0007, {"db.system.name": "redis", "db.operation.name": "GET"})
    ins.retry_attempts.add(2, {"llm_obs.operation": "summarize", "llm_obs.retry.final": False,
                               "llm_obs.retry.ratio": 0.5})
    ins.observe(CACHE_ENTRIES, lambda: [Observation(42)])
    ins.observe(BREAKER_STATE, lambda: [Observation(2, {"llm_obs.circuit_breaker.name": "ai_service"})])
    return telemetry.reader.snapshot(1_700_000_000.25)


def test_round_trip_is_exact(telemetry: Telemetry) -> None:
    snap = busy_snapshot(telemetry)
    back = from_json(to_json(snap))
    assert back == snap
    assert back.meta == snap.meta and back.meta["llm_obs.cache.lookups"].kind == "counter"
    assert back.meta[CACHE_ENTRIES] == MetricMeta("gauge", "{entry}", snap.meta[CACHE_ENTRIES].description)


def test_attribute_types_survive(telemetry: Telemetry) -> None:
    snap = busy_snapshot(telemetry)
    retries = from_json(to_json(snap)).series("llm_obs.retry.attempts")
    ((attrs, value),) = retries.items()
    assert dict(attrs) == {"llm_obs.operation": "summarize", "llm_obs.retry.final": False, "llm_obs.retry.ratio": 0.5}
    assert [type(v) for _, v in attrs] == [str, bool, float]  # sorted keys; a bool stays a bool, not 0
    assert value == 2.0 and isinstance(value, float)
    codes = {dict(a)["http.response.status_code"] for a in from_json(to_json(snap)).histogram_series(
        "http.server.request.duration")}
    assert codes == {200, 500}  # ints stay ints: the error filters compare them with >= 500


def test_windows_over_decoded_snapshots_measure_the_same(telemetry: Telemetry) -> None:
    before = telemetry.reader.snapshot(1_700_000_000.0)
    after = busy_snapshot(telemetry)
    direct = measure(Window(before, after))
    decoded = measure(Window(from_json(to_json(before)), from_json(to_json(after))))
    assert decoded == direct and direct.requests == 30 and direct.errors == 3


def test_the_same_snapshot_always_encodes_to_the_same_text() -> None:
    bounds = (0.1, 1.0)
    a = Snapshot(5.0, {("c", (("k", "x"),)): 1.0, ("c", (("k", "y"),)): 2.0},
                 {("h", ()): HistogramPoint(1, 0.5, bounds, (0, 1, 0))}, {"c": MetricMeta("counter", "1", "")})
    b = Snapshot(5.0, {("c", (("k", "y"),)): 2.0, ("c", (("k", "x"),)): 1.0},  # other insertion order
                 {("h", ()): HistogramPoint(1, 0.5, bounds, (0, 1, 0))}, {"c": MetricMeta("counter", "1", "")})
    assert to_json(a) == to_json(b)


def test_compact_names_attribute_sets_and_bounds_written_once(telemetry: Telemetry) -> None:
    snap = busy_snapshot(telemetry, requests=200)
    text = to_json(snap)
    data = json.loads(text)
    assert text.count('"http.route"') == 2  # one per distinct attribute set (200, 500), referred to by index
    assert text.count('"llm_obs.cache.lookups"') == 1
    assert len(data["b"]) == len({h.bounds for h in snap.histograms.values()})
    assert '"1.0' not in text.replace('"1.0.', "")  # whole numbers as integers
    naive = len(json.dumps({  # the same content with every series spelling out its name and attributes
        "t": snap.timestamp, "meta": {n: [m.kind, m.unit, m.description] for n, m in snap.meta.items()},
        "series": [[n, dict(a), v] for (n, a), v in snap.values.items()]
        + [[n, dict(a), h.count, h.sum, h.bounds, h.counts] for (n, a), h in snap.histograms.items()]}))
    assert len(text) < naive


def test_decoding_shares_attribute_sets_and_bounds() -> None:
    key = ("c", (("k", "x"),))
    snap = Snapshot(1.0, {key: 1.0}, {("h", (("k", "x"),)): HistogramPoint(0, 0.0, (1.0, 2.0), (0, 0, 0))})
    share = Interner()
    first = from_json(to_json(snap), share)
    second = from_json(to_json(Snapshot(2.0, snap.values, snap.histograms)), share)
    (a1,), (a2,) = [list(s.series("c")) for s in (first, second)]
    assert a1 is a2
    assert first.histograms[("h", a1)].bounds is second.histograms[("h", a2)].bounds


@pytest.mark.parametrize("text", ["", "{}", "[1]", '{"v": 99, "t": 1}', '{"v": 1, "t": 1, "m": [], "a": [],'
                                  ' "b": [], "s": [[0, 0, 1]], "h": []}', b"\xff"])
def test_unreadable_text_is_a_format_error(text: str | bytes) -> None:
    with pytest.raises(SnapshotFormatError):
        from_json(text)
