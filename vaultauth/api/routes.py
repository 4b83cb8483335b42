"""Thin routes of the Integration Auth API: parse, call the service, shape the answer.

Handlers are `async def` (the service never blocks the loop) and answer with a `JSONResponse`
built from plain dicts: FastAPI then skips validating and re-serialising what the code just
built. `response_model` still describes each answer in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from vaultauth.api.audit import entry_of
from vaultauth.api.deps import CredentialReader, Reader, Service, Writer
from vaultauth.api.openapi_schemas import CURSOR_DESCRIPTION, responses_of
from vaultauth.api.schemas import (
    AuthCreateBody,
    AuthList,
    AuthOut,
    AuthUpdateBody,
    CompactJSONResponse,
    ResolveOut,
    RollbackBody,
    VersionList,
    record_body,
    record_response,
    resolve_body,
    versions_body,
)
from vaultauth.idempotency import canonical_json
from vaultauth.ids import ID_PATTERN
from vaultauth.models import RFC3339_PATTERN
from vaultauth.service import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

_ETAG = {"ETag": {"description": "the record's revision; send it back in If-Match"}}

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
    responses=responses_of("create", {200: {"headers": _ETAG}}),
)
async def create_auth(
    integrationId: IntegrationId,
    body: AuthCreateBody,
    principal: Writer,
    service: Service,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            # Checked by the service (422 invalid_idempotency_key), not by a length limit here.
            json_schema_extra={"pattern": "^[ -~]{1,255}$", "minLength": 1, "maxLength": 255},
            description="1-255 printable ASCII characters: a repeat within 24 hours with an "
            "equivalent body gets the same record and writes nothing (another body: 422).",
        ),
    ] = None,
) -> Response:
    if idempotency_key is None:
        created = await service.create(principal.tenant, integrationId, body.to_domain())
    else:
        created = await service.create_once(
            principal.tenant,
            integrationId,
            body.to_domain(),
            idempotency_key=idempotency_key,
            canonical_body=canonical_json(await request.json()),
        )
    audit = entry_of(request.scope)
    if audit is not None:
        audit.created_auth_id = created.auth_id
    return record_response(created)


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
    return CompactJSONResponse(
        {"data": [record_body(r) for r in page.records], "nextCursor": page.next_cursor}
    )


@router.get(
    "/integrations/{integrationId}/auth/{authId}",
    tags=["auth"],
    response_model=AuthOut,
    responses=responses_of(
        "get", {200: {"headers": _ETAG}, 304: {"description": "If-None-Match matched"}}
    ),
)
async def get_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    principal: Reader,
    service: Service,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    record = await service.get(principal.tenant, integrationId, authId)
    return record_response(record, if_none_match=if_none_match)


@router.patch(
    "/integrations/{integrationId}/auth/{authId}",
    tags=["auth"],
    response_model=AuthOut,
    responses=responses_of("update", {200: {"headers": _ETAG}}),
)
async def update_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    body: AuthUpdateBody,
    principal: Writer,
    service: Service,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    updated = await service.update(
        principal.tenant, integrationId, authId, body.to_domain(), if_match=if_match
    )
    return record_response(updated)


@router.delete(
    "/integrations/{integrationId}/auth/{authId}",
    status_code=204,
    tags=["auth"],
    responses=responses_of("delete"),
)
async def delete_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    principal: Writer,
    service: Service,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    await service.delete(principal.tenant, integrationId, authId, if_match=if_match)
    return Response(status_code=204)


@router.get(
    "/integrations/{integrationId}/auth/{authId}/versions",
    tags=["auth"],
    response_model=VersionList,
    responses=responses_of("versions"),
)
async def list_versions(
    integrationId: IntegrationId, authId: AuthId, principal: Reader, service: Service
) -> Response:
    """The record's versions in Vault, newest first: numbers and dates, never a value."""
    _record, versions = await service.versions(principal.tenant, integrationId, authId)
    return JSONResponse(versions_body(versions))


@router.post(
    "/integrations/{integrationId}/auth/{authId}/rollback",
    tags=["auth"],
    response_model=AuthOut,
    responses=responses_of("rollback", {200: {"headers": _ETAG}}),
)
async def rollback_auth(
    integrationId: IntegrationId,
    authId: AuthId,
    principal: Writer,
    service: Service,
    body: Annotated[RollbackBody, Body()],
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """A new version whose credential and static headers are those of `version` (the label,
    dates and allowedHosts stay as they are). No value is ever shown."""
    restored = await service.rollback(
        principal.tenant, integrationId, authId, body.version, if_match=if_match
    )
    return record_response(restored)


@router.get("/auth/due", tags=["auth"], response_model=AuthList, responses=responses_of("due"))
async def due_auth(
    principal: Reader,
    service: Service,
    before: Annotated[
        str,
        Query(
            max_length=64,
            description="RFC 3339 date-time with a time zone: records whose expiresAt or "
            "rotateAfter is before it, the earliest first",
            json_schema_extra={"format": "date-time", "pattern": RFC3339_PATTERN},
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    page = await service.due(principal.tenant, before=before, limit=limit, cursor=cursor)
    return JSONResponse(
        {"data": [record_body(r) for r in page.records], "nextCursor": page.next_cursor}
    )


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
