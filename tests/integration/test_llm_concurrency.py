"""LLM_MAX_CONCURRENCY is a limit on every LLM call: parallel /process calls reach a real local
OpenAI-compatible vendor no more than the limit at once, the excess waits LLM_QUEUE_TIMEOUT_SECONDS at
most and then gets a 503 with Retry-After, and capacity-analysis reports what the limiter saw."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from tests.fakes.openai_server import FakeOpenAI
from tests.helpers.webhook_receiver import wait_until
from tests.integration.conftest import llm_client

PROCESS = "/v1/text_processing/process"
BATCH = "/v1/text_processing/batch_process"
CAPACITY = "/internal/resilience/capacity-analysis"
EXPOSITION = "/internal/monitoring/metrics?format=prometheus"
TEXT = "The payment service failed twice this morning. Engineers restarted it and traffic recovered."
LIMIT = 2


def body(n: int) -> dict[str, Any]:
    return {"text": f"{TEXT} Incident {n}.", "operation": "summarize"}


def limited(client_for: Any, fake: FakeOpenAI, queue_timeout_s: float) -> Any:
    # a vendor timeout well past the time requests are held, so nothing here is a vendor failure
    return llm_client(client_for, fake, llm_max_concurrency=LIMIT, llm_queue_timeout_seconds=queue_timeout_s,
                      llm_timeout_seconds=30.0)


@contextmanager
def held(fake: FakeOpenAI) -> Iterator[None]:
    """The vendor holds every request until the block ends (also when an assertion fails in it)."""
    fake.mode = "held"
    try:
        yield
    finally:
        fake.release_held()


def exposed(client: Any, line: str) -> bool:
    return line in client.get(EXPOSITION).text.splitlines()


def test_twenty_parallel_calls_reach_the_vendor_two_at_a_time(client_for: Any, fake: FakeOpenAI) -> None:
    client = limited(client_for, fake, queue_timeout_s=30.0)
    with ThreadPoolExecutor(20) as pool:
        with held(fake):
            futures = [pool.submit(client.post, PROCESS, json=body(n)) for n in range(20)]
            # the limit's worth at the vendor and the rest queued in the service: then the vendor answers
            wait_until(lambda: exposed(client, "llm_obs_llm_queue_waiting 18") and fake.in_flight == LIMIT,
                       what="2 calls at the vendor and 18 queued")
            assert exposed(client, f"llm_obs_llm_concurrency_active {LIMIT}")
        responses = [f.result() for f in futures]

    assert [r.status_code for r in responses] == [200] * 20
    assert fake.max_in_flight == LIMIT and fake.calls == 20
    concurrency = client.get(CAPACITY).json()["concurrency"]
    assert concurrency["limit"] == LIMIT and concurrency["peak_in_flight"] == LIMIT
    assert concurrency["peak_utilization_percent"] == 100.0
    assert concurrency["calls_admitted"] == 20
    assert concurrency["calls_waited"] >= 18 and concurrency["calls_rejected"] == 0
    assert exposed(client, "llm_obs_llm_concurrency_active 0") and exposed(client, "llm_obs_llm_queue_waiting 0")


def test_past_the_wait_the_excess_gets_503_with_retry_after(client_for: Any, fake: FakeOpenAI) -> None:
    client = limited(client_for, fake, queue_timeout_s=0.05)
    with ThreadPoolExecutor(20) as pool:
        with held(fake):
            first = [pool.submit(client.post, PROCESS, json=body(n)) for n in range(LIMIT)]
            wait_until(lambda: fake.in_flight == LIMIT, what="the limit's worth of calls at the vendor")
            refused = list(pool.map(lambda n: client.post(PROCESS, json=body(n)), range(LIMIT, 20)))
        answered = [f.result() for f in first]

    assert [r.status_code for r in answered] == [200] * LIMIT
    assert [r.status_code for r in refused] == [503] * (20 - LIMIT)
    for response in refused:
        assert int(response.headers["Retry-After"]) >= 1
        error = response.json()
        assert error["error"] == "llm_concurrency_limit" and error["limit"] == LIMIT
        assert "concurrency limit" in error["detail"]
        assert error["retry_after_seconds"] == int(response.headers["Retry-After"])
    assert fake.max_in_flight == LIMIT and fake.calls == LIMIT  # a refused call never reached the vendor

    # the service's own limit is not the vendor failing: no breaker counted it, and the vendor is
    # called again at once (a cache hit would not show that, so a new text)
    breakers = client.get("/internal/resilience/circuit-breakers").json()
    assert breakers["ai_service"]["state"] == "closed"
    assert breakers["ai_service"]["metrics"]["failures"] == 0
    assert client.post(PROCESS, json=body(100)).status_code == 200

    answer = client.get(CAPACITY).json()
    concurrency = answer["concurrency"]
    assert concurrency["peak_in_flight"] == LIMIT and concurrency["peak_utilization_percent"] <= 100.0
    assert concurrency["calls_rejected"] == 20 - LIMIT
    assert concurrency["calls_waited"] == 20 - LIMIT
    assert any("refused (503)" in r for r in answer["recommendations"])


def test_cache_hits_are_served_while_every_slot_is_taken(client_for: Any, fake: FakeOpenAI) -> None:
    client = llm_client(client_for, fake, llm_max_concurrency=1, llm_queue_timeout_seconds=0.05,
                        llm_timeout_seconds=30.0)
    assert client.post(PROCESS, json=body(1)).status_code == 200  # cached from now on
    with ThreadPoolExecutor(1) as pool:
        with held(fake):
            busy = pool.submit(client.post, PROCESS, json=body(2))
            wait_until(lambda: fake.in_flight == 1, what="the one slot taken")
            hit = client.post(PROCESS, json=body(1))
            miss = client.post(PROCESS, json=body(3))
        assert busy.result().status_code == 200

    assert hit.status_code == 200 and hit.json()["cache_hit"] is True
    assert miss.status_code == 503


def test_batch_items_and_process_calls_share_one_limit(client_for: Any, fake: FakeOpenAI) -> None:
    client = limited(client_for, fake, queue_timeout_s=30.0)
    fake.mode, fake.delay_s = "slow", 0.05
    with ThreadPoolExecutor(11) as pool:
        batch = pool.submit(client.post, BATCH, json={"requests": [body(n) for n in range(10)]})
        singles = list(pool.map(lambda n: client.post(PROCESS, json=body(n)), range(10, 20)))
        batch_response: httpx.Response = batch.result()

    assert [r.status_code for r in singles] == [200] * 10
    assert batch_response.status_code == 200 and batch_response.json()["completed"] == 10
    assert fake.calls == 20 and fake.max_in_flight <= LIMIT
