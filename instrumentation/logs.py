"""Log records carry the current trace and span ids, so a log line leads to its trace in Tempo, and
no credential: every line is masked by ``instrumentation.redact``.

The root handler writes each line as it always did (``LOG_FORMAT``, one line a record, in order) but,
when its stream is not a terminal, not with one ``write`` system call a record: the access log writes a
line per request, and that call (~2 µs alone, 15-25 µs inside a serving process, and it releases the
GIL, so an exporter thread waiting for it takes it and the request waits) was the larger part of what a
line cost. ``BufferedLineHandler`` keeps the lines and writes them together: at most ``MAX_DELAY_S``
after the first of them, at once when ``MAX_BUFFERED`` characters are waiting, and at once for a
WARNING or worse (with every line before it, so the order stays). Flushed at exit (``logging.shutdown``,
which the interpreter runs at a normal exit, uvicorn's graceful SIGTERM included) and when the handler
is flushed or closed. What changes: a line shows up on the stream at most 0.1 s later than it used to,
and a process that dies without exiting (SIGKILL, the OOM killer, a crash in C) loses at most that
last 0.1 s of INFO lines; an error line is never held. On a terminal each line is written at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import weakref
from typing import TextIO

from opentelemetry import trace

from instrumentation.redact import redact_text

__all__ = ["LOG_FORMAT", "BufferedLineHandler", "LineFormatter", "RedactFilter", "TraceContextFilter",
           "configure_logging"]

LOG_FORMAT = ("%(asctime)s %(levelname)s %(name)s [trace_id=%(otelTraceID)s span_id=%(otelSpanID)s] "
              "%(message)s")
MAX_DELAY_S = 0.1  # how late a buffered line may reach the stream
MAX_BUFFERED = 64 * 1024  # characters waiting that are written at once


class TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.otelTraceID = format(ctx.trace_id, "032x")
            record.otelSpanID = format(ctx.span_id, "016x")
        else:
            record.otelTraceID = "0"
            record.otelSpanID = "0"
        return True


class RedactFilter(logging.Filter):
    """Masks credentials in the message: httpx logs each request's URL as given, user info included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class LineFormatter(logging.Formatter):
    """``logging.Formatter`` whose ``asctime`` formats its date and time once a second, not once a record.

    The same text: ``time.strftime`` of the same whole second gives the same string (the milliseconds are
    added per record, as the base class does). A converter or date format of one's own: the base class.
    """

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or self.converter is not time.localtime or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # a race between threads writes the same text twice: harmless
            self._text = time.strftime(self.default_time_format, time.localtime(second))
            self._second = second
        return self.default_msec_format % (self._text, record.msecs)


# Every BufferedLineHandler, so a child process forgets the parent's lines (the parent writes them).
_HANDLERS: weakref.WeakSet[BufferedLineHandler] = weakref.WeakSet()


class BufferedLineHandler(logging.StreamHandler[TextIO]):
    """``StreamHandler`` that writes lines together, within ``max_delay_s`` (see the module docstring).

    ``emit`` runs under the handler's lock (``Handler.handle``), and so does the writer thread's flush.
    """

    def __init__(self, stream: TextIO | None = None, max_delay_s: float = MAX_DELAY_S,
                 max_buffered: int = MAX_BUFFERED, flush_level: int = logging.WARNING) -> None:
        super().__init__(stream)
        self.max_delay_s = max_delay_s
        self.max_buffered = max_buffered
        self.flush_level = flush_level
        try:
            self.buffering = not self.stream.isatty()
        except (AttributeError, ValueError):  # a stream without isatty, or closed: written at once
            self.buffering = False
        self._pending: list[str] = []
        self._size = 0
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        _HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            pending = self._pending
            pending.append(line)
            self._size += len(line)
            if not self.buffering or record.levelno >= self.flush_level or self._size >= self.max_buffered:
                self._write_pending()
                self.stream.flush()
            elif len(pending) == 1:  # the first line waiting: the writer writes it within max_delay_s
                if self._writer is None:
                    self._start_writer()
                self._wake.set()
        except RecursionError:  # as StreamHandler.emit
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # Handler.createLock made it
            self._write_pending()
            super().flush()

    def setStream(self, stream: TextIO) -> TextIO | None:
        with self.lock:  # type: ignore[union-attr]
            self._write_pending()  # the old stream's lines go to the old stream
        return super().setStream(stream)

    def _write_pending(self) -> None:
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._size = 0
            self.stream.write(text)

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=_write_later, args=(weakref.ref(self),), name="log-line-writer",
                                        daemon=True)
        self._writer.start()

    def _forget(self) -> None:
        """In a forked child: the parent writes the lines it held; this process has no writer thread yet."""
        self._pending.clear()
        self._size = 0
        self._wake = threading.Event()
        self._writer = None


def _write_later(ref: weakref.ReferenceType[BufferedLineHandler]) -> None:
    """The writer thread: waits for a first waiting line, lets ``max_delay_s`` pass, writes what waits."""
    while True:
        handler = ref()
        if handler is None:
            return
        wake, delay = handler._wake, handler.max_delay_s
        del handler  # not kept alive by this thread while it waits
        if not wake.wait(60.0):
            continue
        time.sleep(delay)
        handler = ref()
        if handler is None:
            return
        wake.clear()  # lines logged from now on find the list empty again and set it
        with contextlib.suppress(Exception):  # a failed write: the next flush tries again
            handler.flush()
        del handler


def _after_fork_in_child() -> None:
    for handler in list(_HANDLERS):
        handler._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# Loggers that write URLs themselves: masked on the logger, so every handler (not only ours) gets the
# masked line.
_URL_LOGGERS = ("httpx",)


def configure_logging(level: str, monitoring_level: str) -> None:
    """Root handler with trace ids; ``monitoring_level`` applies to the monitoring loggers."""
    root = logging.getLogger()
    if not any(isinstance(f, TraceContextFilter) for h in root.handlers for f in h.filters):
        handler = BufferedLineHandler(sys.stderr)
        handler.addFilter(TraceContextFilter())
        handler.addFilter(RedactFilter())
        handler.setFormatter(LineFormatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())
    for name in ("app.monitoring", "instrumentation"):
        logging.getLogger(name).setLevel(monitoring_level)
