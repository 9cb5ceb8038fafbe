"""The Prometheus text exposition (format 0.0.4) of a cumulative snapshot, named as the Collector
names the same metrics, so ``?format=prometheus`` and Prometheus agree on every series name."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

from instrumentation.prometheus_names import label_name, metric_name
from instrumentation.snapshot import Attrs, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: object) -> str:
    return str(value).replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


@lru_cache(maxsize=4096)
def _pairs(attrs: Attrs) -> str:
    """A series' label pairs, built once: a histogram repeats them on each of its ~15 bucket lines, and
    the same series come back in every scrape (attribute tuples are interned by the reader)."""
    return ",".join(f'{label_name(k)}="{_escape(v)}"' for k, v in attrs)


def _labels(attrs: Attrs, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = [p] if (p := _pairs(attrs)) else []
    pairs += [f'{k}="{v}"' for k, v in extra]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def render(snapshot: Snapshot) -> str:
    lines: list[str] = []
    for name in sorted(snapshot.meta):
        meta = snapshot.meta[name]
        prom = metric_name(name, meta.unit, meta.kind)
        prom_type = {"counter": "counter", "histogram": "histogram"}.get(meta.kind, "gauge")
        help_text = _escape(meta.description or name)
        lines += [f"# HELP {prom} {help_text}", f"# TYPE {prom} {prom_type}"]
        if meta.kind == "histogram":
            for attrs, point in sorted(snapshot.histogram_series(name).items(), key=lambda kv: repr(kv[0])):
                cumulative = 0
                for bound, count in zip((*point.bounds, math.inf), point.counts, strict=True):
                    cumulative += count
                    lines.append(f"{prom}_bucket{_labels(attrs, [('le', _number(bound))])} {cumulative}")
                lines.append(f"{prom}_sum{_labels(attrs)} {_number(point.sum)}")
                lines.append(f"{prom}_count{_labels(attrs)} {point.count}")
        else:
            for attrs, value in sorted(snapshot.series(name).items(), key=lambda kv: repr(kv[0])):
                lines.append(f"{prom}{_labels(attrs)} {_number(value)}")
    return "\n".join(lines) + "\n"
