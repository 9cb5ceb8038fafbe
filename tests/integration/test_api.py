"""/v1 and /health as a client sees them: answers, validation messages, API keys."""

from __future__ import annotations

from typing import Any

import pytest

PROCESS = "/v1/text_processing/process"
TEXT = "Teams love reliable dashboards. Slow alerts are frustrating. Traces show where time goes."


def test_health_is_200_without_redirect(client_for: Any) -> None:
    response = client_for(redis_enabled=False).get("/health", follow_redirects=False)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


@pytest.mark.parametrize("operation", ["summarize", "sentiment", "key_points", "questions"])
def test_each_operation_answers(client_for: Any, operation: str) -> None:
    answer = client_for(redis_enabled=False).post(PROCESS, json={"text": TEXT, "operation": operation}).json()
    assert answer["operation"] == operation and answer["success"] is True
    assert answer["processing_time"] >= 0
    # the offline provider counts no tokens: none are reported unless the operator opted in to estimates
    assert (answer["metadata"]["input_tokens"], answer["metadata"]["output_tokens"]) == (None, None)
    assert "tokens_estimated" not in answer["metadata"]


def test_estimated_tokens_are_opt_in_and_named(client_for: Any) -> None:
    answer = client_for(redis_enabled=False, llm_estimate_tokens=True).post(
        PROCESS, json={"text": TEXT, "operation": "summarize"}).json()
    assert answer["metadata"]["input_tokens"] > 0 and answer["metadata"]["output_tokens"] > 0
    assert answer["metadata"]["tokens_estimated"] == ["input", "output"]
    produced = answer.get("result") or answer.get("key_points") or answer.get("questions")
    assert produced


def test_qa_answers_from_the_text_and_requires_a_question(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    answer = client.post(PROCESS, json={"text": TEXT, "operation": "qa", "question": "What shows where time goes?"})
    assert answer.json()["result"] == "Traces show where time goes."
    missing = client.post(PROCESS, json={"text": TEXT, "operation": "qa"})
    assert missing.status_code == 422
    assert "question" in str(missing.json()["detail"])


@pytest.mark.parametrize(("payload", "words"), [
    ({"text": "short", "operation": "summarize"}, "at least 10 characters"),
    ({"text": "x" * 10_001, "operation": "summarize"}, "at most 10000 characters"),
    ({"text": TEXT, "operation": "translate"}, "summarize"),
    ({"operation": "summarize"}, "Field required"),
])
def test_bad_input_is_a_422_that_says_what_is_wrong(client_for: Any, payload: dict[str, Any], words: str) -> None:
    response = client_for(redis_enabled=False).post(PROCESS, json=payload)
    assert response.status_code == 422
    assert words in str(response.json()["detail"])


def test_batch_processes_items_and_caps_at_50(client_for: Any) -> None:
    client = client_for(redis_enabled=False)
    items = [{"text": f"{TEXT} Item {i}.", "operation": "sentiment"} for i in range(3)]
    answer = client.post("/v1/text_processing/batch_process", json={"requests": items, "batch_id": "b1"}).json()
    assert (answer["batch_id"], answer["total_requests"], answer["completed"], answer["failed"]) == ("b1", 3, 3, 0)
    assert [r["request_index"] for r in answer["results"]] == [0, 1, 2]
    too_many = client.post("/v1/text_processing/batch_process", json={"requests": items * 17})
    assert too_many.status_code == 422 and "at most 50" in str(too_many.json()["detail"])


def test_operations_lists_all_five(client_for: Any) -> None:
    operations = client_for(redis_enabled=False).get("/v1/text_processing/operations").json()["operations"]
    assert [o["id"] for o in operations] == ["summarize", "sentiment", "key_points", "questions", "qa"]


def test_api_keys_guard_v1(client_for: Any) -> None:
    client = client_for(redis_enabled=False, api_key="main-key", additional_api_keys="second,third")
    payload = {"text": TEXT, "operation": "sentiment"}
    missing = client.post(PROCESS, json=payload)
    assert missing.status_code == 401 and "API key required" in missing.json()["detail"]
    assert client.post(PROCESS, json=payload, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post(PROCESS, json=payload, headers={"Authorization": "Bearer main-key"}).status_code == 200
    assert client.post(PROCESS, json=payload, headers={"X-API-Key": "third"}).status_code == 200
    assert client.get("/health").status_code == 200  # liveness stays open
