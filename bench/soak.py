"""Soak: steady load on the full app for a long time; its resident memory must stay flat.

    .venv/bin/python bench/soak.py [--minutes 15] [--connections 4] [--margin 10] [--json PATH]

The full app (production sampler, OTLP export to the in-process sink of overhead.py, a snapshot every
5 s so the history is exercised 12 times more than at the default 60 s) is served by one uvicorn
worker; wrk sends a steady mix for the whole time: every request has a new text (a cache miss that
fills the memory tier to its bound) or repeats one (a hit), and the runbook endpoints are polled.
RSS is sampled every 10 s. After a warm-up (a fifth of the run, at least 2 minutes: the cache and the
history reach their bounds), the run passes when the largest RSS stays within ``--margin`` percent of
the RSS at the end of the warm-up. Exit 0 flat, 1 grew past the margin, 2 the run could not be made.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.overhead import PRODUCTION_SAMPLER, Sink, clean_env, http, log, uvicorn_server

# Half the requests carry a counter in the text (new each time: a miss), half repeat one of ten texts.
LUA = """
counter = 0
request = function()
  counter = counter + 1
  local text
  if counter % 2 == 0 then text = "Soak text number " .. counter .. " keeps the cache busy."
  else text = "Soak text repeated " .. (counter % 10) .. " is a cache hit." end
  local body = '{"text": "' .. text .. '", "operation": "sentiment"}'
  return wrk.format("POST", "/v1/text_processing/process", {["Content-Type"] = "application/json"}, body)
end
"""
RUNBOOK = ("/internal/monitoring/overview", "/internal/monitoring/metrics?time_window_hours=168",
           "/internal/monitoring/alerts", "/internal/cache/stats", "/internal/monitoring/memory-stats")


def history_mb(port: int) -> float:
    """What /internal/monitoring/memory-stats reports the snapshot history holds (nan when it does not answer)."""
    status, body = http("GET", f"http://127.0.0.1:{port}/internal/monitoring/memory-stats", timeout=10)
    try:
        return float(body["monitoring"]["history"]["memory_mb"]) if status == 200 else float("nan")
    except (KeyError, TypeError, ValueError):
        return float("nan")


def poll_runbook(port: int, stop: threading.Event, errors: list[str]) -> None:
    while not stop.wait(2.0):
        for path in RUNBOOK:
            status, _ = http("GET", f"http://127.0.0.1:{port}{path}", timeout=10)
            if status != 200:
                errors.append(f"{path}: HTTP {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--margin", type=float, default=10.0, help="allowed RSS growth after warm-up, percent")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        log("wrk is missing: apt-get install wrk")
        return 2
    duration_s = int(args.minutes * 60)
    warmup_s = max(120, duration_s // 5)
    sink = Sink()
    sink.start()
    env = {**clean_env(), **PRODUCTION_SAMPLER, "METRICS_EXPORT_INTERVAL": "5",
           "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
    samples: list[tuple[float, float]] = []
    history: list[float] = []  # the snapshot history's own report (MB) at each sample
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, uvicorn_server("soak", "bench.app_full:app", env, Path(tmp)) as (
            port, pid, _output):
        lua = Path(tmp) / "soak.lua"
        lua.write_text(LUA)
        process = psutil.Process(pid)
        stop = threading.Event()
        poller = threading.Thread(target=poll_runbook, args=(port, stop, errors), daemon=True)
        poller.start()
        log(f"soak: {args.minutes:g} min, {args.connections} connections, warm-up {warmup_s}s")
        load = subprocess.Popen([wrk, "-t1", f"-c{args.connections}", f"-d{duration_s}s", "-s", str(lua),
                                 f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True)
        start = time.monotonic()
        while load.poll() is None:
            samples.append((time.monotonic() - start, process.memory_info().rss / 1e6))
            history.append(history_mb(port))
            if len(samples) % 6 == 0:
                log(f"soak: {samples[-1][0]:5.0f}s  RSS {samples[-1][1]:7.1f} MB  history {history[-1]:5.2f} MB")
            time.sleep(10)
        stop.set()
        wrk_output = load.stdout.read() if load.stdout else ""
    sink.stop()
    settled = [rss for t, rss in samples if t >= warmup_s]
    if not settled:
        log("soak: the run ended before the warm-up did")
        return 2
    baseline, peak, end = settled[0], max(settled), settled[-1]
    growth = 100 * (peak - baseline) / baseline
    # The history keeps every snapshot of its last hour (720 at 5 s) before it thins: in a run shorter
    # than that it still grows, by design and within its bound. Its share of the growth, from its own report:
    first = next(i for i, (t, _rss) in enumerate(samples) if t >= warmup_s)
    history_growth = history[-1] - history[first]
    result: dict[str, Any] = {
        "minutes": args.minutes, "warmup_s": warmup_s, "rss_after_warmup_mb": round(baseline, 1),
        "rss_peak_mb": round(peak, 1), "rss_end_mb": round(end, 1), "growth_percent": round(growth, 2),
        "margin_percent": args.margin, "flat": growth <= args.margin, "runbook_errors": errors[:20],
        "history_mb_after_warmup": round(history[first], 2), "history_mb_end": round(history[-1], 2),
        "rss_growth_besides_history_mb": round(end - baseline - history_growth, 2),
        "non_2xx": "Non-2xx" in wrk_output,
        "samples": [(round(t), round(r, 1), round(h, 2)) for (t, r), h in zip(samples, history, strict=True)],
        "requests_per_second": next((line.split()[-1] for line in wrk_output.splitlines()
                                     if line.startswith("Requests/sec")), ""),
    }
    print(f"RSS after warm-up {baseline:.1f} MB, peak {peak:.1f} MB, end {end:.1f} MB: "
          f"{growth:+.1f} % (margin {args.margin:g} %) -> {'flat' if result['flat'] else 'GREW'}; "
          f"history {history[first]:.2f} -> {history[-1]:.2f} MB, RSS growth besides it "
          f"{result['rss_growth_besides_history_mb']:+.2f} MB; "
          f"{result['requests_per_second']} req/s; runbook errors {len(errors)}; non-2xx {result['non_2xx']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["flat"] and not errors and not result["non_2xx"] else 1


if __name__ == "__main__":
    sys.exit(main())
