"""Answers of the real Prometheus 2.42 (pipeline stack) to the window's queries, trimmed: a service that
served 7 POSTs (one a 500) and 3 health checks, as ``/api/v1/query`` returns them."""

from __future__ import annotations

from typing import Any

from app.monitoring import prometheus_window as pw
from instrumentation.instruments import HTTP_SERVER_DURATION

NOW = 1_795_768_995.451
HTTP = (HTTP_SERVER_DURATION, "bucket")


def success(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": m, "value": [NOW, v]} for m, v in series]}}


def buckets(labels: dict[str, str], cumulative: dict[str, str]) -> list[tuple[dict[str, str], str]]:
    return [({**labels, "le": le}, v) for le, v in cumulative.items()]


PROCESS = {"http_request_method": "POST", "http_response_status_code": "200",
           "http_route": "/v1/text_processing/process"}
FAILED = {**PROCESS, "http_response_status_code": "500", "error_type": "LLMTransientError"}
HEALTH = {"http_request_method": "GET", "http_response_status_code": "200", "http_route": "/health"}
HTTP_BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0",
               "7.5", "10.0")
REAL: dict[pw.QueryKey, dict[str, Any]] = {
    HTTP: success(
        *buckets(PROCESS, {"+Inf": "6", **dict.fromkeys(HTTP_BOUNDS[:2], "5"), **dict.fromkeys(HTTP_BOUNDS[2:], "6")}),
        *buckets(FAILED, {"+Inf": "1", **dict.fromkeys(HTTP_BOUNDS[:9], "0"), **dict.fromkeys(HTTP_BOUNDS[9:], "1")}),
        *buckets(HEALTH, {"+Inf": "3", **dict.fromkeys(HTTP_BOUNDS, "3")})),
    (HTTP_SERVER_DURATION, "sum"): success((PROCESS, "0.024216649000663892"), (FAILED, "0.8"),
                                          (HEALTH, "0.010941206999632413")),
    ("gen_ai.client.token.usage", "bucket"): success(*buckets(
        {"gen_ai_token_type": "input"}, {"+Inf": "3", "1.0": "0", "4.0": "0", "16.0": "3", "1.048576e+06": "3"})),
    ("gen_ai.client.token.usage", "sum"): success(({"gen_ai_token_type": "input"}, "27")),
    ("llm_obs.cache.lookups", "value"): success(
        ({"llm_obs_cache_result": "hit", "llm_obs_cache_tier": "memory", "llm_obs_operation": "summarize"}, "4"),
        ({"llm_obs_cache_result": "miss", "llm_obs_cache_tier": "none", "llm_obs_operation": "summarize"}, "3")),
    ("llm_obs.cache.memory.usage", "value"): success(({"llm_obs_cache_tier": "memory"}, "1086")),
    ("llm_obs.circuit_breaker.state", "value"): success(({"llm_obs_circuit_breaker_name": "ai_service"}, "2"),
                                                    ({"llm_obs_circuit_breaker_name": "summarize"}, "0")),
    ("process.memory.usage", "value"): success(({}, "89350144")),
    ("llm_obs.memory.limit", "value"): success(({}, "1000000000")),
    pw.REQUESTS_BY_INSTANCE: success(({"instance": "7e62cb89"}, "5"), ({"instance": "0a1b2c3d"}, "2")),
    pw.LAST_SEEN_BY_INSTANCE: success(({"instance": "7e62cb89"}, "0.9589998722076416")),
    pw.DATA_START: success(({}, str(NOW - 187.424))),
}


