"""``db.operation.name`` of Redis calls and the error attributes, as semconv 1.44's Redis page gives them."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from instrumentation.redis_spans import connection_attributes, error_attributes, operation_name


def test_operation_names() -> None:
    assert operation_name(["GET"]) == "GET"
    assert operation_name([b"CONFIG  GET"]) == "CONFIG GET"  # as given, spaces normalised
    assert operation_name(["SET"] * 500) == "PIPELINE SET"
    assert operation_name(["GET", "PTTL"] * 500) == "PIPELINE"
    assert operation_name(["INCRBY", "INCRBY"], transaction=True) == "MULTI INCRBY"
    assert operation_name(["INCRBY", "GET"], transaction=True) == "MULTI"
    assert operation_name(["SET"], transaction=True) == "SET"  # a batch of one is a single operation


def test_error_attributes() -> None:
    assert error_attributes(RedisConnectionError("refused")) == {"error.type": "ConnectionError"}
    wrongtype = ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert error_attributes(wrongtype) == {"error.type": "ResponseError", "db.response.status_code": "WRONGTYPE"}
    assert error_attributes(NoScriptError("No matching script", status_code="NOSCRIPT")) == {
        "error.type": "NoScriptError", "db.response.status_code": "NOSCRIPT"}
    assert error_attributes(ResponseError("value is 'secret' here")) == {"error.type": "ResponseError"}


def test_connection_attributes_of_a_socket_and_of_a_host() -> None:
    import redis.asyncio as aioredis

    assert connection_attributes(aioredis.Redis.from_url("unix:///tmp/redis.sock?db=3")) == {
        "db.system.name": "redis", "db.namespace": "3", "server.address": "/tmp/redis.sock"}
    assert connection_attributes(aioredis.Redis.from_url("redis://:pw@cache.internal:6380/1")) == {
        "db.system.name": "redis", "db.namespace": "1", "server.address": "cache.internal", "server.port": 6380}
