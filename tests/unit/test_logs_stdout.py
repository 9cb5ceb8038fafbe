"""The stdout line: the same text as logging's own handler and formatter write, written together within a
bounded delay, at once for a warning or on a terminal, and flushed at exit; the access record is the
record ``Logger.info`` makes."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from instrumentation import access
from instrumentation.logs import LOG_FORMAT, BufferedLineHandler, LineFormatter, RedactFilter, TraceContextFilter

REPO = Path(__file__).resolve().parents[2]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    made = logging.getLogger("tests.stdout")
    saved = (made.propagate, made.level, list(made.handlers))
    made.propagate, made.handlers = False, []
    made.setLevel(logging.INFO)
    yield made
    made.propagate, made.handlers = saved[0], saved[2]
    made.setLevel(saved[1])


def _handler(stream: io.StringIO, **kwargs: float) -> BufferedLineHandler:
    handler = BufferedLineHandler(stream, **kwargs)  # type: ignore[arg-type]
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(LineFormatter(LOG_FORMAT))
    return handler


def test_the_lines_are_what_logging_writes(logger: logging.Logger) -> None:
    ours, theirs = io.StringIO(), io.StringIO()
    handler = _handler(ours)
    stock = logging.StreamHandler(theirs)
    stock.addFilter(TraceContextFilter())
    stock.addFilter(RedactFilter())
    stock.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    logger.addHandler(stock)
    for i in range(50):
        logger.info("line %d to http://user:pw@host/x", i)
        logger.error("an error %s", "Bearer abc")
        time.sleep(0.0003)  # across a second's boundary now and then
    handler.flush()
    assert ours.getvalue() == theirs.getvalue()
    assert "****" in ours.getvalue() and "pw@" not in ours.getvalue()


def test_info_lines_wait_at_most_the_delay_and_a_warning_writes_them_all(logger: logging.Logger) -> None:
    stream = io.StringIO()
    logger.addHandler(_handler(stream, max_delay_s=0.2))
    logger.info("first")
    logger.info("second")
    assert stream.getvalue() == ""
    logger.warning("third")
    assert [line.rsplit(" ", 1)[-1] for line in stream.getvalue().splitlines()] == ["first", "second", "third"]
    logger.info("fourth")
    deadline = time.monotonic() + 5
    while "fourth" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.getvalue().endswith("fourth\n")


def test_a_full_buffer_and_a_terminal_are_written_at_once(logger: logging.Logger) -> None:
    stream, tty = io.StringIO(), Tty()
    logger.addHandler(_handler(stream, max_delay_s=60, max_buffered=300))
    logger.addHandler(_handler(tty, max_delay_s=60))
    logger.info("x" * 200)
    assert stream.getvalue() == "" and tty.getvalue().endswith("x" * 200 + "\n")
    logger.info("y" * 200)
    assert stream.getvalue().endswith("y" * 200 + "\n")


def test_lines_waiting_at_exit_are_written() -> None:
    code = ("from instrumentation.logs import configure_logging; import logging; configure_logging('INFO', 'INFO');"
            "[logging.getLogger('x').info('line %d', i) for i in range(1000)]")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stderr.count("INFO x [trace_id=0 span_id=0] line ") == 1000, done.stderr[-500:]


def test_the_access_record_is_logger_infos_record(monkeypatch: pytest.MonkeyPatch) -> None:
    scope = {"path": "/items/1", "method": "GET", "client": ("127.0.0.1", 5000), "http_version": "1.1"}
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    log = logging.getLogger(access.ACCESS_LOGGER)
    saved = (log.propagate, log.level)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(keep)
    try:
        access.log_access(scope, "/items/{id}", 200, 0.0012)
        monkeypatch.setattr(logging, "_srcfile", None)  # logging's own path (no code locations)
        access.log_access(scope, "/items/{id}", 200, 0.0012)
        monkeypatch.undo()
        log.info(access._MESSAGE, *records[0].args, extra={k: vars(records[0])[k] for k in access.ACCESS_ATTRIBUTES})
    finally:
        log.removeHandler(keep)
        log.propagate, log.level = saved
    ours, unknown, theirs = (vars(r) for r in records)
    varying = {"created", "msecs", "relativeCreated", "lineno", "pathname", "filename", "module", "funcName"}
    assert {k: v for k, v in ours.items() if k not in varying} == {k: v for k, v in theirs.items() if k not in varying}
    assert ours["pathname"] == access.__file__ and ours["funcName"] == "log_access" and ours["module"] == "access"
    assert unknown["funcName"] == "(unknown function)"
    assert records[0].getMessage() == '127.0.0.1:5000 - "GET /items/1 HTTP/1.1" 200 1.2ms'
