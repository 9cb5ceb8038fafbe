"""Dependencies as ``Annotated`` aliases: the services of the app, and the API-key guards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.api import access
from app.services.runtime import Services

# async on purpose: a plain `def` dependency costs a thread-pool hop on every request.

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key header")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
HoursQuery = Annotated[float, Query(gt=0, le=24 * 90, description="Window length in hours.")]


def _refuse(refusal: access.Refusal | None) -> None:
    if refusal is not None:
        headers = {"WWW-Authenticate": "Bearer"} if refusal.status == status.HTTP_401_UNAUTHORIZED else None
        raise HTTPException(refusal.status, refusal.message, headers=headers)


# The two security schemes are parameters so that OpenAPI shows them; the rule reads every header
# itself (``access.offered``): a wrong key in one header is refused even when the other is valid.
async def require_api_key(
    request: Request,
    _bearer_scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _header_scheme: Annotated[str | None, Depends(_header)],
) -> None:
    """/v1: API_KEY or one of ADDITIONAL_API_KEYS, when any is configured."""
    # The request, not ServicesDep: on the hottest routes each dependency FastAPI solves costs ~10-30 µs.
    _refuse(access.client_access(access.offered(request.headers), services_of(request).settings.valid_api_keys))


async def require_operator_key(
    request: Request,
    _bearer_scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _header_scheme: Annotated[str | None, Depends(_header)],
) -> None:
    """/internal/*: only an operator key when one is configured; else loopback clients only."""
    settings = services_of(request).settings
    _refuse(access.operator_access(access.offered(request.headers), settings.operator_api_keys,
                                   settings.valid_api_keys, request.client.host if request.client else None,
                                   settings.allow_open_internal))


async def one_snapshot(request: Request) -> AsyncIterator[None]:
    """Everything one /internal answer reads of the metrics comes from one snapshot (``SnapshotHistory.pinned``)."""
    with services_of(request).telemetry.history.pinned():
        yield


ApiKeyDep = Depends(require_api_key)
OneSnapshotDep = Depends(one_snapshot)
OperatorKeyDep = Depends(require_operator_key)
