"""llm-ops: the operations guide's scripts as one tool.

    llm-ops daily                      # the morning health check
    llm-ops weekly --json              # the weekly review, as JSON
    llm-ops monitor --interval 60      # continuous; --iterations N for a bounded run
    llm-ops baseline --output-dir .    # writes performance_baseline_<timestamp>.json

Exit codes: 0 healthy, 1 degraded or warnings, 2 critical or unhealthy, 3 service unreachable,
64 bad usage (not argparse's 2, which a cron job would read as critical).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from app.ops import commands, render
from app.ops.client import OpsClient

DEFAULT_URL = "http://localhost:8000"
EXIT_USAGE = 64  # sysexits.h EX_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {raw}")
    return value


def _timeout(raw: str) -> float:
    value = _seconds(raw)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {raw}")
    return value


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The same options before or after the command; after it, only what was given overrides."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--url", default=default if suppress else os.environ.get("LLM_OPS_URL", DEFAULT_URL),
                        help=f"the service's base URL (env LLM_OPS_URL; default {DEFAULT_URL})")
    parser.add_argument("--api-key",
                        default=default if suppress else (os.environ.get("LLM_OPS_API_KEY")
                                                          or os.environ.get("INTERNAL_API_KEY")),
                        help="the operator key, sent as 'Authorization: Bearer <key>' "
                             "(env LLM_OPS_API_KEY, else INTERNAL_API_KEY as the service reads it)")
    parser.add_argument("--timeout", type=_timeout, default=default if suppress else 10.0,
                        help="seconds to wait for each answer (default 10)")
    parser.add_argument("--json", action="store_true", default=default if suppress else False,
                        help="print JSON instead of text (one object per line for monitor)")


def parser() -> argparse.ArgumentParser:
    main = _Parser(prog="llm-ops", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(main, suppress=False)
    sub = main.add_subparsers(dest="command", required=True, metavar="{daily,weekly,monitor,baseline}")
    for name, text in (("daily", "the guide's daily health check"),
                       ("weekly", "the guide's weekly operations review")):
        _common(sub.add_parser(name, help=text, description=text), suppress=True)
    mon = sub.add_parser("monitor", help="the guide's continuous system monitor",
                         description="Check /internal/monitoring/health every --interval seconds; list the "
                                     "critical and warning alerts whenever it is not healthy. Exits with the "
                                     "worst code seen.")
    _common(mon, suppress=True)
    mon.add_argument("--interval", type=_seconds, default=60.0,
                     help="seconds between checks (default 60)")
    mon.add_argument("--iterations", type=_count, default=0,
                     help="stop after N checks (default 0: until interrupted)")
    base = sub.add_parser("baseline", help="the guide's performance baseline",
                          description="Save /internal/monitoring/metrics?time_window_hours=24 to "
                                      "performance_baseline_<timestamp>.json and print its key figures.")
    _common(base, suppress=True)
    base.add_argument("--output-dir", type=Path, default=Path("."), help="where the file goes (default .)")
    base.add_argument("--window-hours", type=float, default=24.0, help="the metrics window (default 24)")
    return main


def _monitor(client: OpsClient, args: argparse.Namespace) -> int:
    worst = 0
    try:
        for report in commands.monitor(client, args.interval, args.iterations):
            worst = max(worst, report.exit_code)
            print(render.as_json(report, compact=True) if args.json else render.monitor_line(report), flush=True)
    except KeyboardInterrupt:
        pass
    return worst


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with OpsClient(args.url, args.api_key, args.timeout) as client:
        if args.command == "monitor":
            return _monitor(client, args)
        if args.command == "daily":
            report = commands.daily(client)
        elif args.command == "weekly":
            report = commands.weekly(client)
        else:
            report = commands.baseline(client, args.output_dir, args.window_hours)
    print(render.as_json(report) if args.json else render.text(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
