"""What the access line and its OTLP export cost a request, in-process: CPU time, not wrk's req/s.

    .venv/bin/python bench/logs_inprocess.py [--variants full,full-logs-stdout,full-logs] [--processes 3]
                                             [--blocks 4] [--requests 4000] [--json PATH]

A variant ``app@DIR`` runs that app from the checkout in DIR (which has this script too): before and
after a change, interleaved in one run (``git worktree add DIR COMMIT``).

wrk's req/s moves by up to 0.2 a round on a busy 2-core machine; the CPU time a request costs the serving
process does not move that much. Each variant is ``bench/overhead.py``'s app of that name: ``app.main``'s
``create_app()`` built in a fresh process with exactly that app's environment (``overhead.clean_env()``,
the sink's endpoint, the app's own variables), its lifespan run through the ASGI lifespan protocol, then
the ASGI app called directly (no server, no socket), ``--requests`` times per block and endpoint
(``GET /health``, a cache-hit ``POST /v1/text_processing/process``, the scope and headers a wrk request
has), back to the event loop between requests (its ``select`` releases the GIL, as a server's does).
The process's stdout and stderr go to a file, as the bench's servers' do (``PYTHONUNBUFFERED=1``);
traces, metrics and logs are posted to ``overhead.Sink`` in this process (another process than the one
measured). A block's figure is ``time.process_time()`` (every thread of the process: the exporter
threads count) per request; each variant's processes are interleaved with the others' (``--processes``
rounds of one process per variant, the order rotated each round).

Printed: per variant and endpoint the min / median µs of CPU per request over all blocks, the
differences between consecutive variants (``full`` → ``full-logs-stdout``: the stdout line;
``full-logs-stdout`` → ``full-logs``: the OTLP export), each variant's CPU seconds per thread, its lines
of output and the log records the sink received from it (fewer than the lines: the SDK's queue dropped
some).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.overhead import APPS, HEALTH, PROCESS, PROCESS_BODY, Sink, clean_env  # noqa: E402

DEFAULT_VARIANTS = ("full", "full-logs-stdout", "full-logs")
ENDPOINTS = (("GET /health", "GET", HEALTH, b""), ("POST process (hit)", "POST", PROCESS,
                                                   json.dumps(PROCESS_BODY).encode()))


def _scope(method: str, path: str, body: bytes, port: int) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000")]
    if body:
        headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", port), "scheme": "http", "method": method,
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
            "state": {}}


async def _request(app: Any, method: str, path: str, body: bytes, port: int) -> int:
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a disconnect never comes while the request runs
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(method, path, body, port), receive, send)
    return status


class _Lifespan:
    """The app's lifespan through the ASGI protocol, as uvicorn runs it."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        await self._app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                        self._to_app.get, self._from_app.put)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup: {message}")

    async def stop(self) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        if self._task is not None:
            await self._task


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by name (Linux /proc)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        out[thread.name] = out.get(thread.name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _toggles() -> tuple[Any, Any] | None:
    """``--paired``: what to switch off and on again in this process, block by block: the OTLP handler when
    there is one (the export), else the access line (the root logger's level, WARNING or as configured)."""
    import logging

    root = logging.getLogger()
    otlp = next((h for h in root.handlers if type(h).__name__ == "OTLPLoggingHandler"), None)
    if otlp is not None:
        return (lambda: root.removeHandler(otlp)), (lambda: root.addHandler(otlp))
    level = root.level
    return (lambda: root.setLevel(logging.WARNING)), (lambda: root.setLevel(level))


async def _child(blocks: int, requests: int, paired: bool) -> dict[str, Any]:
    from app.main import create_app

    app = create_app()
    lifespan = _Lifespan(app)
    await lifespan.start()
    toggles = _toggles() if paired else None
    results: dict[str, list[float]] = {}
    try:
        for _, method, path, body in ENDPOINTS:  # warm-up; primes the cache (the second POST is a hit)
            for i in range(500):
                if (status := await _request(app, method, path, body, 40000 + i % 20000)) != 200:
                    raise RuntimeError(f"{method} {path}: {status}")
        for block in range(blocks):
            for name, method, path, body in ENDPOINTS:
                # paired: off then on, or on then off (alternately), in adjacent blocks of this process
                states = (("off", 0), ("on", 1)) if block % 2 == 0 else (("on", 1), ("off", 0))
                for state, index in states if toggles else (("", -1),):
                    if toggles:
                        toggles[index]()
                    start = time.process_time()
                    for i in range(requests):
                        await _request(app, method, path, body, 40000 + i % 20000)
                        await asyncio.sleep(0)  # back to the event loop between requests, as a server goes
                    results.setdefault(f"{name} {state}".strip(), []).append(
                        (time.process_time() - start) / requests * 1e6)
            if toggles:
                toggles[1]()
        threads = _thread_cpu()
    finally:
        await lifespan.stop()
    return {"blocks": results, "threads": threads}


def _run_child(variant: str, args: argparse.Namespace, sink: Sink, workdir: Path, index: int) -> dict[str, Any]:
    app, _, tree = variant.partition("@")  # "full-logs@/path/to/another/checkout": that checkout's code
    repo = Path(tree) if tree else REPO
    env = clean_env()
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_SERVICE_NAME": f"bench-{app}", **APPS[app].env})
    before = sink.counts()
    result_path = workdir / f"{variant.replace('/', '_')}-{index}.json"
    output = workdir / f"{variant.replace('/', '_')}-{index}.log"
    with output.open("wb") as out:
        command = [sys.executable, str(repo / "bench" / "logs_inprocess.py"), "--child", str(result_path),
                   "--blocks", str(args.blocks), "--requests", str(args.requests), *(["--paired"] * args.paired)]
        proc = subprocess.run(command, cwd=repo, env=env,
                              stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode:
        raise SystemExit(f"{variant}: exited {proc.returncode}:\n{output.read_text(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["output_lines"] = sum(1 for _ in output.open("rb"))
    result["log_records"] = sink.counts()["log_records"] - before["log_records"]
    return result


def _print_variants(variants: list[str], runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    summary: dict[str, dict[str, tuple[float, float]]] = {}
    for variant in variants:
        summary[variant] = {}
        for name, *_ in ENDPOINTS:
            figures = [f for run in runs[variant] for f in run["blocks"][name]]
            summary[variant][name] = (min(figures), statistics.median(figures))
    print(f"CPU µs per request, min / median of {args.processes} processes x {args.blocks} blocks x "
          f"{args.requests} requests")
    for name, *_ in ENDPOINTS:
        print(f"\n{name}")
        previous: str | None = None
        for variant in variants:
            low, mid = summary[variant][name]
            delta = ""
            if previous is not None:
                plow, pmid = summary[previous][name]
                delta = f"   {previous} -> {variant}: {low - plow:+.1f} / {mid - pmid:+.1f}"
            print(f"  {variant:18} {low:7.1f} / {mid:7.1f}{delta}")
            previous = variant


def _print_paired(variants: list[str], runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    print(f"CPU µs per request off / on and what switching on costs (on - off of adjacent blocks): min / median, "
          f"{args.processes} processes x {args.blocks} block pairs x {args.requests} requests")
    for name, *_ in ENDPOINTS:
        print(f"\n{name}")
        for variant in variants:
            off = [f for run in runs[variant] for f in run["blocks"][f"{name} off"]]
            on = [f for run in runs[variant] for f in run["blocks"][f"{name} on"]]
            deltas = [b - a for a, b in zip(off, on, strict=True)]
            print(f"  {variant:18} off {min(off):6.1f} / {statistics.median(off):6.1f}   on {min(on):6.1f} / "
                  f"{statistics.median(on):6.1f}   cost {min(on) - min(off):+6.1f} (of the mins) / "
                  f"{statistics.median(deltas):+6.1f} (median of pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--paired", action="store_true",
                        help="switch the export (full-logs) or the line (full-logs-stdout) off and on in each process")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.child.write_text(json.dumps(asyncio.run(_child(args.blocks, args.requests, args.paired))))
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v.partition("@")[0] not in APPS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(APPS)}")
    sink = Sink()
    sink.start()
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    try:
        with tempfile.TemporaryDirectory(prefix="logs-inprocess-") as tmp:
            for round_ in range(args.processes):
                order = variants[round_ % len(variants):] + variants[:round_ % len(variants)]
                for variant in order:
                    print(f"round {round_ + 1}/{args.processes}: {variant}", file=sys.stderr, flush=True)
                    runs[variant].append(_run_child(variant, args, sink, Path(tmp), round_))
    finally:
        sink.stop()
    if args.paired:
        _print_paired(variants, runs, args)
    else:
        _print_variants(variants, runs, args)
    print("\nCPU s per thread (each process, all blocks and the warm-up)")
    for variant in variants:
        threads: dict[str, list[float]] = {}
        for run in runs[variant]:
            for thread, seconds in run["threads"].items():
                threads.setdefault(thread, []).append(seconds)
        shown = ", ".join(f"{t}: {'/'.join(f'{s:.2f}' for s in v)}" for t, v in sorted(threads.items()))
        print(f"  {variant:18} {shown}   (output lines {[run['output_lines'] for run in runs[variant]]}, "
              f"log records at the sink {[run['log_records'] for run in runs[variant]]})")
    print(f"\nsink: {sink.counts()}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
