"""Thin routes of the Integration Auth API: parse, call the service, shape the answer.

Handlers are `async def` (the service never blocks the loop) and answer with a `JSONResponse`
built from plain dicts: FastAPI then skips validating and re-serialising what the code just
built. `response_model` still describes each answer in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from vaultauth.api.deps import CredentialReader, Reader, Service, Writer
from vaultauth.api.openapi_schemas import CURSOR_DESCRIPTION, responses_of
from vaultauth.api.schemas import (
    AuthCreateBody,
    AuthList,
    AuthOut,
    AuthUpdateBody,
    ResolveOut,
    record_body,
    resolve_body,
)
from vaultauth.ids import ID_PATTERN
from vaultauth.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AuthUpdate

router = APIRouter(prefix="/v1")

IntegrationId = Annotated[
    str,
    Path(
        description="1-64 of letters, digits, '_' and '-'",
        json_schema_extra={"pattern": ID_PATTERN},
    ),
]
AuthId = Annotated[
    str,
    Path(description="the authId returned on create", json_schema_extra={"pattern": ID_PATTERN}),
]


@router.post(
    "/integrations/{integrationId}/auth",
    tags=["auth"],
    response_model=AuthOut,
    responses=responses_of("create"),
)
async def create_auth(
    integrationId: IntegrationId, body: AuthCreateBody, principal: Writer, service: Service
) -> Response:
    created = await service.create(principal.tenant, integrationId, body.to_domain())
    return JSONResponse(record_body(created))


@router.get(
    "/integrations/{integrationId}/auth",
    tags=["auth"],
    response_model=AuthList,
    responses=responses_of("list"),
)
async def list_auth(
    integrationId: IntegrationId,
    principal: Reader,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512, description=CURSOR_DESCRIPTION)] = None,
) -> Response:
    page = await service.list(principal.tenant, integrationId, limit=limit, cursor=cursor)
    return JSONResponse(
        {"data": [record_body(r) for r in page.records], "nextCursor": page.next_cursor}
    )


@router.get(
    "/integrations/{integrationId}/auth/{authId}",
    tags=["auth"],
    response_model=AuthOut,
    responses=responses_of("get"),
)
async def get_auth(
    integrationId: IntegrationId, authId: AuthId, principal: Reader, service: Service
) -> Response:
    return JSONResponse(record_body(await service.get(principal.tenant, integrationId, authId)))


@router.patch(
    "/integrations/{integrationId}/auth/{authId}",
    tags=["auth"],
    response_model=AuthOut,
    responses=responses_of("update"),
)
async def update_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    body: AuthUpdateBody,
    principal: Writer,
    service: Service,
) -> Response:
    request = AuthUpdate(
        auth_type=body.authType,
        credential_fields=body.credential_fields(),
        headers=tuple(body.headers) if body.headers is not None else None,
    )
    updated = await service.update(principal.tenant, integrationId, authId, request)
    return JSONResponse(record_body(updated))


@router.delete(
    "/integrations/{integrationId}/auth/{authId}",
    status_code=204,
    tags=["auth"],
    responses=responses_of("delete"),
)
async def delete_auth(
    integrationId: IntegrationId, authId: AuthId, principal: Writer, service: Service
) -> Response:
    await service.delete(principal.tenant, integrationId, authId)
    return Response(status_code=204)


@router.post(
    "/integrations/{integrationId}/auth/{authId}/resolve",
    tags=["credentials"],
    response_model=ResolveOut,
    responses=responses_of("resolve"),
)
async def resolve_auth(
    integrationId: IntegrationId, authId: AuthId, principal: CredentialReader, service: Service
) -> Response:
    """The headers and query parameters to send: the one call whose answer holds secrets."""
    resolved = await service.resolve(principal.tenant, integrationId, authId)
    return JSONResponse(resolve_body(resolved.record, resolved.credential), headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}
