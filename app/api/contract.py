"""The OpenAPI document as the running service answers: every status a route can return, with its body.

Derived from each operation's own entry and the settings rather than written beside each route, so a
new route cannot miss one: a route that takes input can answer 422, one with a body 413, a guarded one 401 when keys are
configured, every ``/internal`` route 403 (a client key, or a remote client while no operator key is
set). What only one route does (404, 409, 502, 503) it declares itself with ``responses=``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.api.errors import ErrorBody
from app.settings import Settings

INTERNAL = "/internal/"
DESCRIPTIONS = {
    400: "The body could not be read (not JSON, or not UTF-8)",
    401: "No credential, or one that is not valid here",
    403: "A client key on /internal, or a remote client while no operator key is configured",
    413: "Request body over the size limit",
    422: "The request is not valid: `errors` lists each field",
}

# What a client does next with an answer: OpenAPI links, which the fuzzer's stateful phase follows.
LINKS: tuple[tuple[tuple[str, str], str, tuple[str, str], dict[str, Any]], ...] = (
    (("/internal/cache/backup", "get"), "RestoreTheBackup", ("/internal/cache/restore", "post"),
     {"requestBody": "$response.body"}),
    (("/internal/resilience/circuit-breakers", "get"), "ResetTheAiServiceBreaker",
     ("/internal/resilience/circuit-breakers/{name}/reset", "post"),
     {"parameters": {"path.name": "$response.body#/ai_service/name"}}),
)


def statuses(path: str, method: str, operation: dict[str, Any], settings: Settings) -> set[int]:
    """The error statuses every operation of this kind can answer, read off its own OpenAPI entry
    (route-specific ones the route declares itself)."""
    internal = path.startswith(INTERNAL)
    out: set[int] = set()
    takes_body = "requestBody" in operation
    if takes_body or operation.get("parameters"):
        out.add(422)
    if takes_body:
        out.add(400)
    if takes_body or method == "post":
        out.add(413)  # the size limit reads every body, documented or not
    if internal:
        out.add(403)
    if operation.get("security") and path.startswith(("/v1/", INTERNAL)) and _keys(internal, settings):
        out.add(401)
    return out


def _keys(internal: bool, settings: Settings) -> frozenset[str]:
    return settings.operator_api_keys | settings.valid_api_keys if internal else settings.valid_api_keys


def document(app: FastAPI, settings: Settings, extra_models: tuple[type[BaseModel], ...] = ()) -> None:
    """Make ``app.openapi()`` say every status with its body, and security only where it is enforced."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description)
            _add_models(schema, (ErrorBody, *extra_models))
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _add_errors(operation, statuses(path, method, operation, settings))
            _add_links(schema)
            _drop_unused(schema, ("HTTPValidationError", "ValidationError"))
            _security_only_where_enforced(schema, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it


def _add_models(schema: dict[str, Any], models: tuple[type[BaseModel], ...]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(found.pop("$defs", {}))
        components[model.__name__] = found


def _add_errors(operation: dict[str, Any], codes: set[int]) -> None:
    """Each status with the one error body; FastAPI's own 422 (a list-shaped ``detail``) replaced."""
    responses = operation.setdefault("responses", {})
    for status in sorted(codes):
        if status == 422 or str(status) not in responses:
            responses[str(status)] = {"description": DESCRIPTIONS[status], "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def _add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (path, method), name, (to_path, to_method), how in LINKS:
        if path in paths and to_path in paths:
            target = paths[to_path][to_method]["operationId"]
            ok = paths[path][method]["responses"]["200"]
            ok.setdefault("links", {})[name] = {"operationId": target, **how}


def _drop_unused(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    components = schema.get("components", {}).get("schemas", {})
    for name in names:
        rest = {k: v for k, v in schema.items() if k != "components"} | {
            "schemas": {k: v for k, v in components.items() if k not in names}}
        if f"#/components/schemas/{name}" not in json.dumps(rest):
            components.pop(name, None)


def _security_only_where_enforced(schema: dict[str, Any], settings: Settings) -> None:
    """No key configured for a surface: its operations carry no security requirement (a client that
    follows the document sends none, and a fuzzer does not expect a 401 that cannot come)."""
    for path, operations in schema.get("paths", {}).items():
        internal = path.startswith(INTERNAL)
        if not _keys(internal, settings):
            for operation in operations.values():
                operation.pop("security", None)
