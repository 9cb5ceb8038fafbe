"""Redis client spans (``instrumentation.redis_spans``) and ``db.client.operation.duration`` against a real
Redis: semconv 1.44 names and attributes, pipelines named in a few words whatever their length, never a
key or a value in an attribute."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.infra.redis import RedisTier, RedisUnavailable
from instrumentation import Telemetry
from instrumentation.auto import instrument_redis
from instrumentation.instruments import DB_DURATION
from instrumentation.scope import SCHEMA_URL, VERSION
from tests.helpers.processes import free_port

SECRET = "s3cr3t-user-data"  # a value no attribute may carry


@pytest.fixture
def prefix() -> str:
    return f"spans-test:{uuid.uuid4().hex[:8]}:"


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{db}").geturl()


@pytest.fixture
async def client(live_redis: str, telemetry: Telemetry, prefix: str) -> AsyncIterator[aioredis.Redis]:
    c: aioredis.Redis = aioredis.Redis.from_url(live_redis)
    instrument_redis(c, telemetry)
    yield c
    keys = [k async for k in c.scan_iter(match=f"{prefix}*")]
    if keys:
        await c.delete(*keys)
    await c.aclose()


def redis_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if (s.attributes or {}).get("db.system.name") == "redis"]


def server_of(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {"server.address": parts.hostname, "server.port": parts.port or 6379}


def no_user_data(spans: list[ReadableSpan], *secrets: str) -> None:
    for span in spans:
        shown = repr(dict(span.attributes or {})) + span.name + repr(span.status.description) + repr(span.events)
        for secret in secrets:
            assert secret not in shown, span.name
        assert "db.query.text" not in (span.attributes or {}) and "db.statement" not in (span.attributes or {})


async def test_a_command_is_one_client_span_named_by_its_operation(
        client: aioredis.Redis, span_exporter: InMemorySpanExporter, live_redis: str, prefix: str) -> None:
    await client.set(f"{prefix}k", SECRET, ex=60)
    assert await client.get(f"{prefix}k") == SECRET.encode()
    set_span, get_span = redis_spans(span_exporter)
    assert (set_span.name, get_span.name) == ("SET", "GET")
    for span, op in ((set_span, "SET"), (get_span, "GET")):
        assert span.kind == SpanKind.CLIENT and span.status.status_code == StatusCode.UNSET
        assert dict(span.attributes or {}) == {"db.system.name": "redis", "db.operation.name": op,
                                               "db.namespace": "0", **server_of(live_redis)}
        scope = span.instrumentation_scope
        assert scope is not None and (scope.name, scope.version, scope.schema_url) == (
            "instrumentation.redis", VERSION, SCHEMA_URL)
    no_user_data([set_span, get_span], SECRET, prefix)


async def test_a_500_key_pipeline_has_a_short_name_and_its_batch_size(
        client: aioredis.Redis, span_exporter: InMemorySpanExporter, prefix: str) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        pipe.set(f"{prefix}{i}", f"{SECRET}-{i}", px=60_000)
    await pipe.execute()
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        pipe.get(f"{prefix}{i}")
        pipe.pttl(f"{prefix}{i}")
    replies = await pipe.execute()
    assert replies[0] == f"{SECRET}-0".encode()
    writes, reads = redis_spans(span_exporter)
    assert (writes.name, reads.name) == ("PIPELINE SET", "PIPELINE")  # all SETs; GETs and PTTLs mixed
    assert (writes.attributes or {})["db.operation.name"] == "PIPELINE SET"
    assert (writes.attributes or {})["db.operation.batch.size"] == 500
    assert (reads.attributes or {})["db.operation.name"] == "PIPELINE"
    assert (reads.attributes or {})["db.operation.batch.size"] == 1000
    assert max(len(writes.name), len(reads.name)) <= len("PIPELINE SET")  # not "GET PTTL GET PTTL ..."
    no_user_data([writes, reads], SECRET, prefix)


async def test_transactions_single_and_empty_pipelines(
        client: aioredis.Redis, span_exporter: InMemorySpanExporter, prefix: str) -> None:
    async with client.pipeline(transaction=True) as tx:
        await tx.incr(f"{prefix}n").incr(f"{prefix}n").execute()
    async with client.pipeline(transaction=True) as tx:
        await tx.incr(f"{prefix}n").get(f"{prefix}n").execute()
    await client.pipeline(transaction=False).get(f"{prefix}n").execute()  # a batch of one is that command
    assert await client.pipeline().execute() == []  # nothing sent: no span
    same, mixed, single = redis_spans(span_exporter)
    assert (same.name, mixed.name, single.name) == ("MULTI INCRBY", "MULTI", "GET")  # incr() sends INCRBY
    assert (same.attributes or {})["db.operation.batch.size"] == 2
    assert "db.operation.batch.size" not in (single.attributes or {})


async def test_a_watched_transaction_traces_its_immediate_commands(
        client: aioredis.Redis, span_exporter: InMemorySpanExporter, prefix: str) -> None:
    await client.set(f"{prefix}w", "1")

    async def bump(pipe: Any) -> None:
        value = int(await pipe.get(f"{prefix}w"))  # immediate: the pipeline is watching
        pipe.multi()
        pipe.set(f"{prefix}w", str(value + 1))

    await client.transaction(bump, f"{prefix}w")
    assert await client.get(f"{prefix}w") == b"2"
    names = [s.name for s in redis_spans(span_exporter)]
    assert names == ["SET", "WATCH", "GET", "SET", "GET"]  # the transaction of one SET is that SET


async def test_a_refused_command_has_error_type_and_the_redis_error_prefix(
        client: aioredis.Redis, span_exporter: InMemorySpanExporter, prefix: str) -> None:
    await client.set(f"{prefix}s", SECRET)
    with pytest.raises(ResponseError):
        await client.lpush(f"{prefix}s", SECRET)  # WRONGTYPE: a list command on a string
    with pytest.raises(ResponseError):
        await client.execute_command("NOSUCHCOMMAND", SECRET)
    _set, wrongtype, unknown = redis_spans(span_exporter)
    assert wrongtype.name == "LPUSH" and wrongtype.status.status_code == StatusCode.ERROR
    assert wrongtype.status.description == "ResponseError"
    attrs = dict(wrongtype.attributes or {})
    assert (attrs["error.type"], attrs["db.response.status_code"]) == ("ResponseError", "WRONGTYPE")
    assert dict(unknown.attributes or {})["db.response.status_code"] == "ERR"
    assert not wrongtype.events  # no exception event: Redis' message quotes the arguments
    no_user_data([wrongtype, unknown], SECRET, prefix)


async def test_an_unreachable_server_has_error_type_and_its_address(telemetry: Telemetry,
                                                                    span_exporter: InMemorySpanExporter) -> None:
    port = free_port()
    c: aioredis.Redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/2", socket_connect_timeout=0.5)
    instrument_redis(c, telemetry)
    instrument_redis(c, telemetry)  # a second time changes nothing: one span per call
    with pytest.raises(RedisConnectionError):
        await c.ping()
    await c.aclose()
    (span,) = redis_spans(span_exporter)
    assert span.name == "PING" and span.status.status_code == StatusCode.ERROR
    assert dict(span.attributes or {}) == {"db.system.name": "redis", "db.operation.name": "PING",
                                           "db.namespace": "2", "server.address": "127.0.0.1",
                                           "server.port": port, "error.type": "ConnectionError"}


async def test_the_namespace_is_the_configured_database_index(
        live_redis: str, telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    c: aioredis.Redis = aioredis.Redis.from_url(with_db(live_redis, 5))
    instrument_redis(c, telemetry)
    await c.ping()
    await c.aclose()
    (span,) = redis_spans(span_exporter)
    assert (span.attributes or {})["db.namespace"] == "5"


# -- the duration metric, recorded by RedisTier with the spans' names and attributes


@pytest.fixture
def tier(live_redis: str, telemetry: Telemetry) -> Iterator[RedisTier]:
    t = RedisTier(live_redis, 2.0, 0.2, telemetry.instruments)
    instrument_redis(t.client, telemetry)
    yield t


def durations(telemetry: Telemetry) -> dict[str, dict[str, Any]]:
    series = telemetry.reader.snapshot().histogram_series(DB_DURATION)
    return {str(dict(a)["db.operation.name"]) + (" !" if "error.type" in dict(a) else ""): dict(a)
            for a in series}


async def test_the_duration_metric_has_the_spans_names_and_attributes(
        tier: RedisTier, telemetry: Telemetry, span_exporter: InMemorySpanExporter, live_redis: str,
        prefix: str) -> None:
    try:
        await tier.set(f"{prefix}a", SECRET.encode(), 60)
        assert (await tier.lookup(f"{prefix}a"))[0] == SECRET.encode()
        entries = [(f"{prefix}{i}", SECRET.encode(), 60_000) for i in range(500)]
        assert await tier.restore(entries) == 500
        assert len(await tier.dump([k for k, _v, _t in entries])) == 500
        assert await tier.restore(entries[:1]) == 1  # a chunk of one is a SET
        await tier.set(f"{prefix}list", b"x", 60)
        with pytest.raises(RedisUnavailable):  # RedisCommandError: the call falls back
            await tier.run("LPUSH", lambda: tier.client.lpush(f"{prefix}list", SECRET))
        found = durations(telemetry)
        span_ops = {str((s.attributes or {})["db.operation.name"]) for s in redis_spans(span_exporter)}
        assert {"SET", "PIPELINE", "PIPELINE SET", "LPUSH"} <= span_ops
        assert {"SET", "PIPELINE", "PIPELINE SET", "LPUSH !"} <= set(found)  # the spans' names
        connection = {"db.system.name": "redis", "db.namespace": "0", **server_of(live_redis)}
        for name, attrs in found.items():
            assert {k: attrs[k] for k in connection} == connection, name
        assert found["LPUSH !"]["error.type"] == "ResponseError"
        assert found["LPUSH !"]["db.response.status_code"] == "WRONGTYPE"
        assert not any(SECRET in repr(a) or prefix in repr(a) for a in found.values())
    finally:
        await tier.client.delete(f"{prefix}a", f"{prefix}list", *(f"{prefix}{i}" for i in range(500)))
        await tier.aclose()
