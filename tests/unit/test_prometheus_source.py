"""PrometheusSource: one window from many concurrent queries, and every failure one reason to fall back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest

from app.monitoring import prometheus_window as pw
from app.monitoring.measurements import measure
from app.monitoring.prometheus_source import PrometheusSource, PrometheusUnavailable

from .prometheus_answers import NOW, REAL

URL = "http://prom.internal:9090"
EMPTY = {"status": "success", "data": {"resultType": "vector", "result": []}}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def answering(answers: dict[pw.QueryKey, object], calls: list[str], times: set[str] | None = None
              ) -> httpx.MockTransport:
    """Prometheus answering each of the window's queries with ``answers`` (others: an empty vector)."""
    by_query = {promql: key for key, promql in pw.queries("llm", 3600).items()}

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        calls.append(query)
        assert request.url.path == "/api/v1/query"
        if times is not None:
            times.add(request.url.params["time"])
        return httpx.Response(200, json=answers.get(by_query[query], EMPTY))

    return httpx.MockTransport(handler)


def source(transport: httpx.AsyncBaseTransport, clock: Callable[[], float] | None = None,
           timeout_s: float = 2.0) -> PrometheusSource:
    return PrometheusSource(URL, "llm", timeout_s, retry_s=5.0, clock=clock or Clock(), transport=transport)


async def test_a_window_from_every_query_at_one_instant() -> None:
    calls: list[str] = []
    times: set[str] = set()
    prometheus = source(answering(dict(REAL), calls, times))
    found = await prometheus.window(3600)
    await prometheus.aclose()
    assert len(calls) == len(pw.queries("llm", 3600)) and times == {f"{NOW:.3f}"}
    assert measure(found.window).requests == 7
    assert [i.id for i in found.instances] == ["0a1b2c3d", "7e62cb89"]
    assert (found.url, found.job, prometheus.down) == (URL, "llm", None)


def refused(_request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


def bad_query(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})


def not_prometheus(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="<html>Bad Gateway</html>")


@pytest.mark.parametrize("handler, reason", [
    (refused, "ConnectError: [Errno 111] Connection refused"),
    (bad_query, "HTTP 400, query failed: parse error"),
    (not_prometheus, "HTTP 502, not JSON"),
])
async def test_every_failure_is_one_reason_naming_prometheus(
        handler: Callable[[httpx.Request], httpx.Response], reason: str) -> None:
    prometheus = source(httpx.MockTransport(handler))
    with pytest.raises(PrometheusUnavailable) as caught:
        await prometheus.window(300)
    assert str(caught.value) == f"Prometheus at {URL}: {reason}"


async def test_a_slow_prometheus_is_cut_at_the_timeout() -> None:
    async def slow(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=EMPTY)

    prometheus = source(httpx.MockTransport(slow), timeout_s=0.1)
    start = asyncio.get_running_loop().time()
    with pytest.raises(PrometheusUnavailable, match=r"no answer in 0.1 s"):
        await prometheus.window(300)
    assert asyncio.get_running_loop().time() - start < 1.0


async def test_no_series_of_the_job_is_no_window() -> None:
    prometheus = source(answering({}, []))
    with pytest.raises(PrometheusUnavailable, match='no series of job="llm"'):
        await prometheus.window(3600)


async def test_one_warning_per_outage_and_no_queries_while_it_waits_to_retry(caplog: pytest.LogCaptureFixture) -> None:
    up = True
    calls: list[str] = []
    working = answering(dict(REAL), calls)

    async def handler(request: httpx.Request) -> httpx.Response:
        if not up:
            calls.append("refused")
            raise httpx.ConnectError("Connection refused")
        return await working.handle_async_request(request)

    clock = Clock()
    prometheus = source(httpx.MockTransport(handler), clock)
    caplog.set_level(logging.INFO, logger="app.monitoring")
    up = False
    with pytest.raises(PrometheusUnavailable, match="Connection refused"):
        await prometheus.window(3600)
    attempts = len(calls)
    for _ in range(2):  # until the retry, the last reason, without asking Prometheus
        with pytest.raises(PrometheusUnavailable, match="Connection refused"):
            await prometheus.window(3600)
    assert len(calls) == attempts
    clock.now += 6  # past the retry interval: tried again, still down, no second warning
    with pytest.raises(PrometheusUnavailable):
        await prometheus.window(3600)
    assert len(calls) > attempts
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and URL in warnings[0].getMessage()

    up = True
    clock.now += 6  # back: one line saying so
    assert measure((await prometheus.window(3600)).window).requests == 7
    assert prometheus.down is None
    assert any("answers again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


async def test_anything_unforeseen_is_a_fallback_too(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    with pytest.raises(PrometheusUnavailable, match=f"^Prometheus at {URL}: RuntimeError: boom$"):
        await source(httpx.MockTransport(broken)).window(300)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.exc_info is not None  # the traceback, once, for whoever debugs it
