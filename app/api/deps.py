"""Dependencies as ``Annotated`` aliases: the services of the app, and the API-key guards."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.runtime import Services

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


_HINT = "send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def _check_key(keys: frozenset[str], offered: str | None, what: str) -> None:
    if not keys:
        return  # no key configured: open, the development default
    if not offered:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"API key required for {what}: {_HINT}",
                            headers={"WWW-Authenticate": "Bearer"})
    if not any(hmac.compare_digest(offered.encode(), key.encode()) for key in keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"API key not valid for {what}",
                            headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    """/v1: API_KEY or one of ADDITIONAL_API_KEYS, when any is configured."""
    # The request, not ServicesDep: on the hottest routes each dependency FastAPI solves costs ~10-30 µs.
    _check_key(services_of(request).settings.valid_api_keys, header or (bearer.credentials if bearer else None),
               "/v1")


async def require_operator_key(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    """/internal/*: any /v1 key or INTERNAL_API_KEY, when any is configured."""
    _check_key(services.settings.operator_api_keys, header or (bearer.credentials if bearer else None),
               "/internal")


async def one_snapshot(request: Request) -> AsyncIterator[None]:
    """Everything one /internal answer reads of the metrics comes from one snapshot (``SnapshotHistory.pinned``)."""
    with services_of(request).telemetry.history.pinned():
        yield


ApiKeyDep = Depends(require_api_key)
OneSnapshotDep = Depends(one_snapshot)
OperatorKeyDep = Depends(require_operator_key)
