"""Who may call what, as pure functions: the credentials a request carries, and the rule of each
surface. The guards in ``deps`` raise what these decide; the audit trail fingerprints the same keys.

- ``/v1`` takes the client keys (``API_KEY``, ``ADDITIONAL_API_KEYS``); none configured: open.
- ``/internal`` takes only the operator keys (``INTERNAL_API_KEY``, ``ADDITIONAL_INTERNAL_API_KEYS``)
  when one is configured: a client key there is 403, it is known but not enough. With no operator key
  it answers loopback clients only (the guide's ``curl http://localhost:8000/...``), or everyone
  when ``ALLOW_OPEN_INTERNAL`` says something in front guards it.
- Every credential a request carries is checked, not the first found: one that matches no configured
  key is a 401 even beside a valid one, so a guessed key is never let through by another header.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

HINT = "send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


@dataclass(frozen=True, slots=True)
class Credentials:
    keys: tuple[str, ...]  # every key offered: X-API-Key, then the bearer token
    malformed: bool = False  # an Authorization header that is not 'Bearer <token>'


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int  # 401: no or a wrong credential; 403: a known one that this surface does not take
    message: str


def offered(headers: Mapping[str, str]) -> Credentials:
    """The credentials of a request (header names as Starlette gives them, lower case)."""
    keys: list[str] = []
    if header := headers.get("x-api-key"):
        keys.append(header)
    authorization = headers.get("authorization")
    if authorization is None:
        return Credentials(tuple(keys))
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Credentials(tuple(keys), malformed=True)
    keys.append(token.strip())
    return Credentials(tuple(keys))


def _known(key: str, keys: frozenset[str]) -> bool:
    # compare_digest over every key: the time taken does not say which prefix matched.
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def _unknown(credentials: Credentials, keys: frozenset[str], what: str) -> Refusal | None:
    if credentials.malformed:
        return Refusal(401, f"Authorization header not understood for {what}: {HINT}")
    if any(not _known(k, keys) for k in credentials.keys):
        return Refusal(401, f"API key not valid for {what}")
    return None


def client_access(credentials: Credentials, client_keys: frozenset[str]) -> Refusal | None:
    """``/v1``: None lets the request in."""
    if not client_keys:
        return None  # no key configured: open, the development default
    if not credentials.keys and not credentials.malformed:
        return Refusal(401, f"API key required for /v1: {HINT}")
    return _unknown(credentials, client_keys, "/v1")


def is_loopback(host: str | None) -> bool:
    """The client address ASGI gives (after uvicorn's trusted-proxy rewrite); a name is not loopback."""
    try:
        return host is not None and ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def operator_access(credentials: Credentials, operator_keys: frozenset[str], client_keys: frozenset[str],
                    client_host: str | None, open_internal: bool) -> Refusal | None:
    """``/internal``: None lets the request in."""
    known = operator_keys | client_keys
    if known and (refused := _unknown(credentials, known, "/internal")) is not None:
        return refused
    if operator_keys:
        if not credentials.keys:
            return Refusal(401, f"operator key required for /internal: {HINT} with INTERNAL_API_KEY")
        if not all(_known(k, operator_keys) for k in credentials.keys):
            return Refusal(403, "/internal needs an operator key (INTERNAL_API_KEY or ADDITIONAL_INTERNAL_API_KEYS); "
                                "the key offered is a client key, valid for /v1 only")
        return None
    if open_internal or is_loopback(client_host):
        return None
    return Refusal(403, "/internal answers loopback clients only while no operator key is configured: "
                        "set INTERNAL_API_KEY on the service and send it as 'Authorization: Bearer <key>'")
