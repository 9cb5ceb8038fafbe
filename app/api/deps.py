"""Dependencies as ``Annotated`` aliases: the services of the app, and the API-key guard."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.runtime import Services

# async on purpose: a plain `def` dependency costs a thread-pool hop on every request.

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key header")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
HoursQuery = Annotated[float, Query(gt=0, le=24 * 90, description="Window length in hours.")]


async def require_api_key(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    keys = services.settings.valid_api_keys
    if not keys:
        return  # no key configured: open, the development default
    offered = header or (bearer.credentials if bearer else None)
    if not offered:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "API key required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not any(hmac.compare_digest(offered.encode(), key.encode()) for key in keys):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "API key not valid",
                            headers={"WWW-Authenticate": "Bearer"})


ApiKeyDep = Depends(require_api_key)
