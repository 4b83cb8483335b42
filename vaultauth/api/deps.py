"""Typed dependencies: the shared service and the calling principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from vaultauth.keys import Principal, Scope, split_key, verify
from vaultauth.service import CredentialService
from vaultauth.wiring import Runtime

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_service(runtime: Annotated[Runtime, Depends(get_runtime)]) -> CredentialService:
    return runtime.service


async def get_principal(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    api_key: Annotated[str | None, Security(_api_key_header)],
) -> Principal:
    """Verify X-API-Key; a cached key costs no thread hop, a miss reads the index in a thread."""
    parts = split_key(api_key) if api_key else None
    stored = None
    if parts is not None:
        stored = runtime.keys.cached(parts[0])
        if stored is None:
            stored = await anyio.to_thread.run_sync(runtime.keys.fetch, parts[0])
    return verify(api_key, stored)


def require(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        principal.require(scope)
        return principal

    return check


Service = Annotated[CredentialService, Depends(get_service)]
Reader = Annotated[Principal, Depends(require(Scope.AUTH_READ))]
Writer = Annotated[Principal, Depends(require(Scope.AUTH_WRITE))]
CredentialReader = Annotated[Principal, Depends(require(Scope.CREDENTIALS_READ))]
