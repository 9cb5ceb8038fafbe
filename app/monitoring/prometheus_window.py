"""The runbook's window from Prometheus, as pure functions: the PromQL for every series the
measurements read, and the answers turned into the same ``Window`` the in-process history gives.

A window of ``w`` seconds is an empty snapshot at ``now - w`` and a snapshot at ``now`` holding what
each series did in the window (gauges and the config load: their current value), so ``measure()``,
the KPIs and the reports work unchanged. Series are summed over the instances Prometheus scraped
(``by`` the instrument's own attributes: job, instance, resource and scope labels fall away); gauges
combine as ``GAUGE_MERGE`` says.

Why not ``increase(x[w])``: it extrapolates to the window's edges (20 requests come out as 23.3), and
it never sees the first sample of a series born inside the window (a route's first requests, exported
at once, count 0). The in-process windows count a new series from zero; so does
``last_over_time(x[w]) - x offset w``, with ``or last_over_time(x[w])`` for a series absent at the start
or that went down (a restart counts from zero, as ``Window.counter`` does). Exact integers, and a
worker that stopped inside the window keeps what it did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.monitoring.measurements import API_PREFIX
from app.monitoring.windows import Window
from instrumentation import instruments as names
from instrumentation.prometheus_names import label_name, metric_name
from instrumentation.snapshot import Attrs, AttrValue, HistogramPoint, Kind, MetricMeta, SeriesKey, Snapshot

Part = Literal["value", "bucket", "sum", "requests", "last_seen", "start"]
QueryKey = tuple[str, Part]  # (instrument name, which Prometheus series of it), or one of the two below
Sample = tuple[dict[str, str], float]  # labels, value: one element of an instant vector


class PrometheusAnswerError(ValueError):
    """An answer that is not a successful instant vector."""


@dataclass(frozen=True)
class Series:
    """One instrument as the runbook reads it from Prometheus."""

    name: str  # OpenTelemetry instrument name
    kind: Kind
    unit: str
    attributes: tuple[str, ...]  # its own attributes: the labels it is grouped by
    current: bool = False  # a histogram read as it stands, not its window (the config load, once at start)

    @property
    def metric(self) -> str:
        return metric_name(self.name, self.unit, self.kind)

    @property
    def labels(self) -> dict[str, str]:
        """Prometheus label -> attribute."""
        return {label_name(a): a for a in self.attributes}


# What ``measure()`` and ``reports.by_route`` read. Units and attributes as the instruments record
# them (instrumentation/instruments.py, asgi.py, app/services/genai.py, app/cache, app/resilience); a
# grouping label a series lacks only groups it with the empty value.
SERIES: tuple[Series, ...] = (
    Series(names.HTTP_SERVER_DURATION, "histogram", "s",
           ("http.route", "http.request.method", "http.response.status_code", "error.type")),
    Series(names.GENAI_DURATION, "histogram", "s",
           ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "error.type")),
    Series(names.GENAI_TIME_TO_FIRST_CHUNK, "histogram", "s",
           ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")),
    Series(names.GENAI_TOKENS, "histogram", "{token}",
           ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.token.type",
            names.USAGE_ESTIMATED)),
    Series(names.GENAI_COST, "counter", "{USD}", ("gen_ai.provider.name", "gen_ai.request.model", "gen_ai.token.type")),
    Series(names.DB_DURATION, "histogram", "s", ("db.system.name", "db.operation.name", "error.type")),
    Series(names.CACHE_DURATION, "histogram", "s", ("llm_obs.cache.operation",)),
    Series(names.CONFIG_LOAD, "histogram", "s", ("llm_obs.config.source",), current=True),
    Series(names.CACHE_LOOKUPS, "counter", "{lookup}", ("llm_obs.cache.result", "llm_obs.cache.tier",
                                                        "llm_obs.operation")),
    Series(names.RETRY_ATTEMPTS, "counter", "{attempt}", ("llm_obs.operation",)),
    Series(names.CACHE_MEMORY, "gauge", "By", ("llm_obs.cache.tier",)),
    Series(names.CACHE_ENTRIES, "gauge", "{entry}", ("llm_obs.cache.tier",)),
    Series(names.BREAKER_STATE, "gauge", "{state}", ("llm_obs.circuit_breaker.name",)),
    Series(names.PROCESS_MEMORY, "gauge", "By", ()),
    Series(names.MEMORY_LIMIT, "gauge", "By", ()),
)
_INT_ATTRIBUTES = frozenset({"http.response.status_code"})  # recorded as int; is_server_error needs one

# The instances of the service: API requests each answered in the window, and how long ago each last
# reported (every instance reports its process memory on every export; none for 5 minutes: gone).
REQUESTS_BY_INSTANCE: QueryKey = ("instance", "requests")
LAST_SEEN_BY_INSTANCE: QueryKey = ("instance", "last_seen")
# When the service's data begins, so a window longer than the service's life covers what there is,
# as the in-process ``covered_seconds`` does: a subquery at a 120th of the window; for data younger
# than one of its steps (which it cannot see), a finer one over the last two steps; and for data
# younger than one fine step (every sample after the last step the subquery evaluates at: the first
# scrape of a new service), the samples as they stand. Each is at most one of its steps late, never
# early: the answer claims no more than Prometheus holds.
DATA_START: QueryKey = ("window", "start")


def job_of(resource: Mapping[str, object]) -> str:
    """The ``job`` label the Collector's prometheus exporter gives the service's series."""
    name, namespace = str(resource.get("service.name", "")), str(resource.get("service.namespace", "") or "")
    return f"{namespace}/{name}" if namespace else name


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def duration(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def _in_window(selector: str, w: str) -> str:
    """Per series, what it did in the window: exact, a series absent at the start counted from zero."""
    last = f"last_over_time({selector}[{w}])"
    return f"(({last} - {selector} offset {w}) >= 0) or {last}"


def queries(job: str, seconds: float) -> dict[QueryKey, str]:
    """Every instant query of a window of ``seconds``, for the series of ``job``."""
    where = f"job={_quote(job)}"
    w = duration(seconds)
    out: dict[QueryKey, str] = {}
    for s in SERIES:
        labels = ", ".join(s.labels)
        if s.kind == "gauge":
            merge = names.GAUGE_MERGE.get(s.name, "sum")
            out[(s.name, "value")] = f"{merge} by ({labels}) ({s.metric}{{{where}}})"
            continue
        parts: tuple[tuple[Part, str, str], ...] = (
            (("value", s.metric, labels),) if s.kind == "counter" else
            (("bucket", f"{s.metric}_bucket", ", ".join([*s.labels, "le"])), ("sum", f"{s.metric}_sum", labels)))
        for part, metric, by in parts:
            selector = f"{metric}{{{where}}}"
            expr = selector if s.current else _in_window(selector, w)
            out[(s.name, part)] = f"sum by ({by}) ({expr})"
    http = next(s for s in SERIES if s.name == names.HTTP_SERVER_DURATION)
    api = f"{http.metric}_count{{{where}, http_route=~{_quote(API_PREFIX + '.*')}}}"
    out[REQUESTS_BY_INSTANCE] = f"sum by (instance) ({_in_window(api, w)})"
    memory = next(s for s in SERIES if s.name == names.PROCESS_MEMORY)
    out[LAST_SEEN_BY_INSTANCE] = f"max by (instance) (time() - timestamp({memory.metric}{{{where}}}))"
    stamps = f"timestamp({memory.metric}{{{where}}})"
    step = seconds / 120
    out[DATA_START] = (f"min(min_over_time({stamps}[{w}:{duration(step)}]))"
                       f" or min(min_over_time({stamps}[{duration(2 * step)}:{duration(step / 60)}]))"
                       f" or min({stamps})")
    return out


def vector(body: object) -> list[Sample]:
    """The samples of an ``/api/v1/query`` answer; ``PrometheusAnswerError`` for anything else."""
    if not isinstance(body, Mapping) or body.get("status") != "success":
        error = body.get("error", "no error given") if isinstance(body, Mapping) else "not a JSON object"
        raise PrometheusAnswerError(f"query failed: {error}")
    data = body.get("data")
    if not isinstance(data, Mapping) or data.get("resultType") != "vector":
        raise PrometheusAnswerError("not an instant vector")
    try:
        return [({str(k): str(v) for k, v in item["metric"].items()}, float(item["value"][1]))
                for item in data["result"]]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise PrometheusAnswerError(f"unreadable vector: {exc!r}") from exc


def attributes(series: Series, labels: Mapping[str, str]) -> Attrs:
    """Prometheus labels back to the instrument's attributes (and types), as the snapshot keys them."""
    own = series.labels
    attrs: list[tuple[str, AttrValue]] = []
    for label, value in labels.items():
        attribute = own.get(label)
        if attribute is None or value == "":
            continue
        typed: AttrValue = int(value) if attribute in _INT_ATTRIBUTES and value.lstrip("-").isdigit() else value
        attrs.append((attribute, typed))
    return tuple(sorted(attrs))


def histogram_point(cumulative: Mapping[float, float], total: float) -> HistogramPoint:
    """Prometheus' cumulative ``le`` buckets as the snapshot's per-bucket counts (+Inf last)."""
    bounds = tuple(sorted(b for b in cumulative if math.isfinite(b)))
    running = [cumulative[b] for b in bounds]
    running.append(cumulative.get(math.inf, running[-1] if running else 0.0))
    counts: list[int] = []
    previous = 0
    for value in running:
        value_int = max(previous, round(value))  # never below the bucket under it
        counts.append(value_int - previous)
        previous = value_int
    return HistogramPoint(previous, total, bounds, tuple(counts))


def snapshot(answers: Mapping[QueryKey, Sequence[Sample]], timestamp: float) -> Snapshot:
    """What every series did in the window (missing answers: no series), keyed as the SDK's snapshot."""
    values: dict[SeriesKey, float] = {}
    histograms: dict[SeriesKey, HistogramPoint] = {}
    meta: dict[str, MetricMeta] = {}
    for s in SERIES:
        meta[s.name] = MetricMeta(s.kind, s.unit, "")
        if s.kind != "histogram":
            for labels, value in answers.get((s.name, "value"), ()):
                values[(s.name, attributes(s, labels))] = value
            continue
        buckets: dict[Attrs, dict[float, float]] = {}
        for labels, value in answers.get((s.name, "bucket"), ()):
            try:
                le = float(labels.get("le", "+Inf"))  # "1", "1.0", "1e+06", "+Inf"
            except ValueError:
                continue
            buckets.setdefault(attributes(s, labels), {})[le] = value
        sums = {attributes(s, labels): value for labels, value in answers.get((s.name, "sum"), ())}
        for attrs, cumulative in buckets.items():
            histograms[(s.name, attrs)] = histogram_point(cumulative, sums.get(attrs, 0.0))
    return Snapshot(timestamp, values, histograms, meta)


def window(answers: Mapping[QueryKey, Sequence[Sample]], now: float, seconds: float) -> Window:
    """From nothing at the window's start (or where the data begins, when later) to what happened
    since: ``Window`` subtracts an empty snapshot. No known start covers nothing, rather than claim
    the whole window."""
    begins = [value for _labels, value in answers.get(DATA_START, ()) if math.isfinite(value)]
    start = max(now - seconds, min(begins, default=now))
    return Window(Snapshot(min(start, now)), snapshot(answers, now))


@dataclass(frozen=True)
class Instance:
    id: str  # the ``instance`` label: service.instance.id, as the Collector exports it
    requests: int  # API requests it answered in the window
    last_seen_s: float | None  # since it last reported; None: not in the last 5 minutes


def instances(requests: Sequence[Sample], last_seen: Sequence[Sample]) -> tuple[Instance, ...]:
    counted = {labels.get("instance", ""): value for labels, value in requests}
    seen = {labels.get("instance", ""): value for labels, value in last_seen}
    return tuple(Instance(i, round(counted.get(i, 0.0)), round(seen[i], 3) if i in seen else None)
                 for i in sorted(counted.keys() | seen.keys()))


def scope(found: Sequence[Instance], this_instance: str, process: str, url: str, job: str,
          query_ms: float) -> dict[str, Any]:
    """The ``scope`` of an answer from Prometheus, shaped as the local and Redis ones."""
    rows: list[dict[str, Any]] = []
    for i in found:
        row: dict[str, Any] = {"id": i.id, "live": i.last_seen_s is not None, "this_worker": i.id == this_instance,
                               "requests": i.requests}
        if i.id == this_instance:
            row["process"] = process
        if i.last_seen_s is not None:
            row["last_reported_seconds_ago"] = i.last_seen_s
        rows.append(row)
    # The in-process alert engine judges every tick whatever the backend: one view, or alerts would
    # flap between two. Prometheus judges the same KPIs with the generated rules.
    return {"source": "prometheus", "workers": sum(1 for i in found if i.last_seen_s is not None),
            "instances": rows, "prometheus": {"url": url, "job": job},
            "backend": {"configured": "prometheus", "used": "prometheus", "query_ms": query_ms},
            "note": "active alerts and performance_trends come from the in-process view"}
