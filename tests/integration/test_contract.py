"""What the OpenAPI document promises, checked against what the service answers."""

from __future__ import annotations

from typing import Any

import pytest

PROCESS = "/v1/text_processing/process"


def operation(doc: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][path][method]
    return found


def test_qa_needs_a_question_in_the_schema_too(client_for: Any) -> None:
    doc = client_for(redis_enabled=False).get("/openapi.json").json()
    body = operation(doc, PROCESS, "post")["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "operation"
    qa = doc["components"]["schemas"][body["discriminator"]["mapping"]["qa"].rsplit("/", 1)[1]]
    assert "question" in qa["required"] and qa["properties"]["question"]["pattern"] == r"\S"
    other = doc["components"]["schemas"][body["discriminator"]["mapping"]["summarize"].rsplit("/", 1)[1]]
    assert "question" not in other.get("required", [])


@pytest.mark.parametrize(("keys", "expect_401"), [({}, False), ({"api_key": "c", "internal_api_key": "o"}, True)])
def test_every_route_documents_its_errors_with_the_one_body(client_for: Any, keys: dict[str, str],
                                                            expect_401: bool) -> None:
    doc = client_for(redis_enabled=False, **keys).get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # FastAPI's list-shaped 422 is gone
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            guarded = path.startswith(("/v1/", "/internal/"))
            assert ("401" in codes) == (expect_401 and guarded), (method, path, codes)
            assert ("security" in op) == (expect_401 and guarded), (method, path)
            if path.startswith("/internal/"):
                assert "403" in codes, (method, path)
            if op.get("parameters") or "requestBody" in op:
                assert "422" in codes, (method, path)
            for code in codes - {"200"}:
                schema = op["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)


@pytest.mark.parametrize(("call", "status", "code"), [
    (lambda c: c.post(PROCESS, json={"text": "short", "operation": "qa"}), 422, "invalid_request"),
    (lambda c: c.get("/internal/monitoring/alerts/history?days=0"), 422, "invalid_request"),
    (lambda c: c.post("/internal/resilience/config/apply-preset", content=b"{"), 422, "invalid_request"),
    (lambda c: c.post("/internal/resilience/circuit-breakers/nope/reset"), 404, "unknown_circuit_breaker"),
    (lambda c: c.get("/no/such/route"), 404, "not_found"),
    (lambda c: c.delete(PROCESS), 405, "method_not_allowed"),
    (lambda c: c.post("/internal/monitoring/test-webhook"), 409, "webhook_not_configured"),
])
def test_every_error_has_the_one_shape(client_for: Any, call: Any, status: int, code: str) -> None:
    response = call(client_for(redis_enabled=False, monitoring_webhook_url=""))
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and isinstance(body["detail"], str) and body["detail"].strip(), body


def test_a_qa_without_question_says_which_field_in_the_clients_words(client_for: Any) -> None:
    body = client_for(redis_enabled=False).post(PROCESS, json={"text": "long enough text", "operation": "qa"}).json()
    assert body["errors"][0]["loc"] == ["body", "question"] and body["detail"] == "question: Field required"
    spaces = client_for(redis_enabled=False).post(
        PROCESS, json={"text": "long enough text", "operation": "qa", "question": "   "}).json()
    assert spaces["detail"] == "question: operation 'qa' needs a non-empty 'question'"
