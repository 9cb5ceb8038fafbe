"""The whole OpenAPI document fuzzed as users' tools run it: schemathesis against the service under
uvicorn, every check (status codes and bodies as documented, content types, headers, positive data
accepted, negative data rejected, auth not ignored, ...), then the stateful phase over the document's
links (backup -> restore, circuit breakers -> reset). Once with no keys (the loopback default) and once
with client and operator keys configured and each surface given its own.

0 failures of any kind: schemathesis raises a FailureGroup naming each with a curl to reproduce it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.helpers.processes import LiveService

CLIENT_KEY, OPERATOR_KEY = "fuzz-client-key", "fuzz-operator-key"
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
CONFIGS = {
    "no keys": {},
    "client and operator keys": {"API_KEY": CLIENT_KEY, "INTERNAL_API_KEY": OPERATOR_KEY},
}


def keys_for(path: str, env: dict[str, str]) -> dict[str, str]:
    """What a well-configured client sends: the client key to /v1, the operator key to /internal."""
    if path.startswith("/internal/") and "INTERNAL_API_KEY" in env:
        return {"Authorization": f"Bearer {env['INTERNAL_API_KEY']}"}
    if path.startswith("/v1/") and "API_KEY" in env:
        return {"X-API-Key": env["API_KEY"]}
    return {}


@pytest.fixture(scope="module", params=list(CONFIGS), ids=list(CONFIGS))
def served(request: pytest.FixtureRequest, live_redis: str) -> Iterator[tuple[LiveService, dict[str, str]]]:
    env = CONFIGS[request.param]
    redis = live_redis.rsplit("/", 1)[0] + "/7"  # a database of its own: the fuzzer clears and restores
    service = LiveService({"REDIS_URL": redis, "LLM_PROVIDER": "offline", "MONITORING_WEBHOOK_URL": "",
                           "OTEL_EXPORTER_OTLP_ENDPOINT": "", "ENABLE_EXTERNAL_MONITORING": "false",
                           **env}).start()
    yield service, env
    service.stop()


@pytest.fixture(scope="module")
def api_schema(served: tuple[LiveService, dict[str, str]]) -> Any:
    service, env = served
    loaded = schemathesis.openapi.from_url(f"{service.url}/openapi.json")

    @loaded.auth()
    class _Keys:
        def get(self, case: Any, context: Any) -> dict[str, str]:
            return keys_for(case.path, env)

        def set(self, case: Any, data: dict[str, str], context: Any) -> None:
            case.headers = {**(case.headers or {}), **data}

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@FUZZ
def test_every_operation_keeps_its_contract(case: Any) -> None:
    case.call_and_validate()


def test_sequences_of_calls_keep_the_contract(api_schema: Any) -> None:
    calls: list[tuple[str, str, int]] = []

    class Machine(api_schema.as_state_machine()):  # type: ignore[misc]
        def after_call(self, response: Any, case: Any) -> None:
            calls.append((case.method, case.path, response.status_code))

    Machine.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None,
                                  suppress_health_check=list(HealthCheck), derandomize=True))
    # The phase followed the document's links, not only single calls: a backup went back in whole.
    followed = {(method, path) for method, path, status in calls if status == 200}
    assert ("POST", "/internal/cache/restore") in followed, sorted(set(calls))
    assert ("POST", "/internal/resilience/circuit-breakers/{name}/reset") in followed, sorted(set(calls))
