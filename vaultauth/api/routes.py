"""Thin routes of the Integration Auth API: parse, call the service, shape the answer.

Handlers are plain `def`: hvac and SQLAlchemy block, so FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from vaultauth.api.deps import CredentialReader, Reader, Service, Writer
from vaultauth.api.schemas import (
    AuthCreateBody,
    AuthList,
    AuthOut,
    AuthUpdateBody,
    ErrorOut,
    ResolveOut,
)
from vaultauth.ids import ID_PATTERN
from vaultauth.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AuthCreate, AuthUpdate

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 502, 503)
}

router = APIRouter(prefix="/v1", responses=_ERRORS)

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


@router.post("/integrations/{integrationId}/auth", tags=["auth"])
def create_auth(
    integrationId: IntegrationId, body: AuthCreateBody, principal: Writer, service: Service
) -> AuthOut:
    request = AuthCreate(
        auth_type=body.authType,
        credential_fields=body.credential_fields(),
        headers=tuple(body.headers),
    )
    return AuthOut.of(service.create(principal.tenant, integrationId, request))


@router.get("/integrations/{integrationId}/auth", tags=["auth"])
def list_auth(
    integrationId: IntegrationId,
    principal: Reader,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AuthList:
    page = service.list(principal.tenant, integrationId, limit=limit, cursor=cursor)
    return AuthList(data=[AuthOut.of(r) for r in page.records], nextCursor=page.next_cursor)


@router.get("/integrations/{integrationId}/auth/{authId}", tags=["auth"])
def get_auth(
    integrationId: IntegrationId, authId: AuthId, principal: Reader, service: Service
) -> AuthOut:
    return AuthOut.of(service.get(principal.tenant, integrationId, authId))


@router.patch("/integrations/{integrationId}/auth/{authId}", tags=["auth"])
def update_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    body: AuthUpdateBody,
    principal: Writer,
    service: Service,
) -> AuthOut:
    request = AuthUpdate(
        auth_type=body.authType,
        credential_fields=body.credential_fields(),
        headers=tuple(body.headers) if body.headers is not None else None,
    )
    return AuthOut.of(service.update(principal.tenant, integrationId, authId, request))


@router.delete("/integrations/{integrationId}/auth/{authId}", status_code=204, tags=["auth"])
def delete_auth(
    integrationId: IntegrationId, authId: AuthId, principal: Writer, service: Service
) -> Response:
    service.delete(principal.tenant, integrationId, authId)
    return Response(status_code=204)


@router.post("/integrations/{integrationId}/auth/{authId}/resolve", tags=["credentials"])
def resolve_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    principal: CredentialReader,
    service: Service,
    response: Response,
) -> ResolveOut:
    """The headers and query parameters to send: the one call whose answer holds secrets."""
    resolved = service.resolve(principal.tenant, integrationId, authId)
    response.headers["Cache-Control"] = "no-store"
    return ResolveOut(
        authId=resolved.record.auth_id,
        integrationId=resolved.record.integration_id,
        authType=resolved.record.auth_type,
        version=resolved.record.version,
        headers=resolved.credential.headers,
        query=resolved.credential.query,
    )
