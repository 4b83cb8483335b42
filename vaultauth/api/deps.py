"""Typed dependencies: the shared service and the calling principal.

All of them are `async def`: FastAPI runs a plain `def` dependency in its thread pool, and the
hot path must not pay a thread hop for what memory can answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from vaultauth.api.audit import AuditEntry, entry_of
from vaultauth.errors import NotAuthenticated, RateLimited
from vaultauth.keys import Principal, Scope, split_key, verify
from vaultauth.service import CredentialService
from vaultauth.wiring import Runtime

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_service(request: Request) -> CredentialService:
    runtime: Runtime = request.app.state.runtime
    return runtime.service


async def authenticate(
    runtime: Runtime, api_key: str | None, address: str, audit: AuditEntry | None = None
) -> Principal:
    """Verify X-API-Key; a cached key (or a cached unknown id) is checked without a query or a
    thread hop. Past the failed-authentication limit of `address`: 429 instead of 401. The key
    id (and, once verified, the tenant) goes to the request's audit entry."""
    parts = split_key(api_key) if api_key else None
    if audit is not None and parts is not None:
        audit.key_id = parts[0]
    stored = await runtime.index.find_key(parts[0]) if parts is not None else None
    try:
        principal = verify(api_key, stored)
        if audit is not None:
            audit.tenant = principal.tenant
        return principal
    except NotAuthenticated:
        wait = runtime.throttle.failed(address)
        if wait is not None:
            raise RateLimited(
                "too many failed authentications from this address; retry later",
                retry_after=wait,
            ) from None
        raise


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route that needs `scope`: one dependency, so one for FastAPI to solve
    per request (each one costs several microseconds on the hot path)."""

    async def principal_with_scope(
        request: Request, api_key: Annotated[str | None, Security(_api_key_header)]
    ) -> Principal:
        address = request.client.host if request.client is not None else "unknown"
        principal = await authenticate(
            request.app.state.runtime, api_key, address, entry_of(request.scope)
        )
        principal.require(scope)
        return principal

    return principal_with_scope


Service = Annotated[CredentialService, Depends(get_service)]
Reader = Annotated[Principal, Depends(require(Scope.AUTH_READ))]
Writer = Annotated[Principal, Depends(require(Scope.AUTH_WRITE))]
CredentialReader = Annotated[Principal, Depends(require(Scope.CREDENTIALS_READ))]
