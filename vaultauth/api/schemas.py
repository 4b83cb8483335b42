"""Wire schemas of the Integration Auth API (camelCase, as the contract spells them).

Input is liberal (any authType casing; headers as a list, an object or a nested list); output
is always canonical. Credential fields stay raw here and are validated by the domain once the
auth type is known, so fields of another type are ignored rather than rejected. The OpenAPI
document describes the two bodies as `openapi_schemas` does (a union by authType for create);
the answer models here describe exactly what `record_body` and `resolve_body` build.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, to_json

from vaultauth.api.openapi_schemas import create_body_schema, omitted, update_body_schema
from vaultauth.ids import ID_PATTERN
from vaultauth.models import ApiKeyPosition, AuthRecord, AuthType, ClientAuth, Header
from vaultauth.resolve import ResolvedCredential
from vaultauth.service import KEEP, AuthCreate, AuthUpdate, VersionEntry


def _auth_type(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _headers(value: object) -> object:
    """Accept `[{key, value}]`, `{name: value}` and `[[{key, value}]]`; give `[{key, value}]`."""
    if isinstance(value, dict):
        return [{"key": k, "value": v} for k, v in value.items()]
    if isinstance(value, list):
        flat: list[object] = []
        for item in value:
            flat.extend(item if isinstance(item, list) else [item])
        return flat
    return value


AuthTypeIn = Annotated[AuthType, BeforeValidator(_auth_type)]
HeadersIn = Annotated[list[Header], BeforeValidator(_headers)]


class _CredentialFields(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    token: Annotated[Any, Field(repr=False)] = None
    username: Any = None
    password: Annotated[Any, Field(repr=False)] = None
    apiKey: Annotated[Any, Field(repr=False)] = None
    oauth2: Annotated[Any, Field(repr=False)] = None

    def credential_fields(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "username": self.username,
            "password": self.password,
            "apiKey": self.apiKey,
            "oauth2": self.oauth2,
        }


class AuthCreateBody(_CredentialFields):
    authType: AuthTypeIn
    headers: HeadersIn = Field(default_factory=list)
    allowedHosts: Any = None
    label: Any = None
    expiresAt: Any = None
    rotateAfter: Any = None

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return create_body_schema(handler)

    def to_domain(self) -> AuthCreate:
        return AuthCreate(
            auth_type=self.authType,
            credential_fields=self.credential_fields(),
            headers=tuple(self.headers),
            allowed_hosts=self.allowedHosts,
            label=self.label,
            expires_at=self.expiresAt,
            rotate_after=self.rotateAfter,
        )


class AuthUpdateBody(_CredentialFields):
    authType: AuthTypeIn | None = None
    headers: HeadersIn | None = None
    allowedHosts: Any = None
    label: Any = None
    expiresAt: Any = None
    rotateAfter: Any = None

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return update_body_schema(handler)

    def to_domain(self) -> AuthUpdate:
        given = self.model_fields_set

        def change(name: str) -> object:
            """The value given (null clears), or KEEP when the field was omitted."""
            return getattr(self, name) if name in given else KEEP

        return AuthUpdate(
            auth_type=self.authType,
            credential_fields=self.credential_fields(),
            headers=tuple(self.headers) if self.headers is not None else None,
            allowed_hosts=change("allowedHosts"),
            label=change("label"),
            expires_at=change("expiresAt"),
            rotate_after=change("rotateAfter"),
        )


class _Answer(BaseModel):
    """Answers are described strictly: every field is always there, and nothing else is."""

    model_config = ConfigDict(extra="forbid")


class HeaderOut(_Answer):
    """A static header with its value."""

    key: str
    value: str


class SecretHeaderOut(_Answer):
    """A secret static header: its name only (the value is in Vault; resolve sends it)."""

    key: str
    secret: Literal[True]


class ApiKeyOut(_Answer):
    key: str
    position: ApiKeyPosition


class OAuth2Out(_Answer):
    """An OAuth 2.0 configuration without its secrets (clientSecret, refreshToken)."""

    tokenUrl: str
    clientId: str
    scopes: list[str]
    audience: str | None
    clientAuth: ClientAuth


# RFC 3339 in UTC with whole seconds, as `_rfc3339` writes it.
_UTC_DATE_TIME = Field(
    json_schema_extra={"format": "date-time"},
    pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    version: int = Field(ge=1, description="the version whose content becomes current again")


class VersionOut(_Answer):
    version: Annotated[int, Field(ge=1)]
    createdAt: Annotated[str, _UTC_DATE_TIME]
    current: Annotated[bool, Field(description="the version the record names now")]
    available: Annotated[
        bool, Field(description="false once Vault no longer keeps it (rollback refuses it)")
    ]


class VersionList(_Answer):
    data: list[VersionOut]


def _rfc3339(moment: datetime) -> str:
    """`2023-11-07T05:31:56Z` (whole seconds, UTC)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class AuthOut(_Answer):
    """The record: metadata only, never a secret value."""

    authId: Annotated[str, Field(pattern=r"^auth_[0-9A-Za-z]{12}$")]
    integrationId: Annotated[str, Field(pattern=ID_PATTERN)]
    authType: AuthType
    headers: list[HeaderOut | SecretHeaderOut]
    apiKey: Annotated[ApiKeyOut | None, Field(description="null unless authType is API_KEY")]
    oauth2: Annotated[
        OAuth2Out | None, Field(description="null unless authType is one of the OAUTH2_ types")
    ]
    allowedHosts: Annotated[
        list[str] | None,
        Field(description="the hosts the credential may be sent to; null: any host"),
    ]
    label: str | None
    expiresAt: Annotated[str | None, _UTC_DATE_TIME]
    rotateAfter: Annotated[str | None, _UTC_DATE_TIME]
    version: Annotated[int, Field(ge=1, description="the KV v2 version the record names")]
    createdAt: Annotated[str, _UTC_DATE_TIME]
    updatedAt: Annotated[str, _UTC_DATE_TIME]

    @classmethod
    def of(cls, record: AuthRecord) -> AuthOut:
        return cls.model_validate(record_body(record))


def record_body(record: AuthRecord) -> dict[str, Any]:
    """The record as AuthOut describes it, built directly: answers skip model validation."""
    api_key = None
    if record.api_key_name is not None and record.api_key_position is not None:
        api_key = {"key": record.api_key_name, "position": record.api_key_position.value}
    return {
        "authId": record.auth_id,
        "integrationId": record.integration_id,
        "authType": record.auth_type.value,
        "headers": [_header_body(h) for h in record.headers],
        "apiKey": api_key,
        "oauth2": _oauth2_body(record),
        "allowedHosts": list(record.allowed_hosts) if record.allowed_hosts is not None else None,
        "label": record.label,
        "expiresAt": _rfc3339(record.expires_at) if record.expires_at is not None else None,
        "rotateAfter": _rfc3339(record.rotate_after) if record.rotate_after is not None else None,
        "version": record.version,
        "createdAt": _rfc3339(record.created_at),
        "updatedAt": _rfc3339(record.updated_at),
    }


def _oauth2_body(record: AuthRecord) -> dict[str, Any] | None:
    settings = record.oauth2
    if settings is None:
        return None
    return {
        "tokenUrl": settings.token_url,
        "clientId": settings.client_id,
        "scopes": list(settings.scopes),
        "audience": settings.audience,
        "clientAuth": settings.client_auth.value,
    }


class CompactJSONResponse(JSONResponse):
    """JSONResponse's bytes (compact UTF-8 JSON) from pydantic-core's encoder, several times
    faster than json.dumps on a page of records."""

    def render(self, content: Any) -> bytes:
        return to_json(content)


def record_response(record: AuthRecord, *, if_none_match: str | None = None) -> Response:
    """The record's answer with its ETag; 304 without a body when If-None-Match matches."""
    headers = {"ETag": record.etag}
    if if_none_match is not None and _matches(if_none_match, record.etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(record_body(record), headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's weak comparison: `*`, or any listed tag, with or without W/."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def versions_body(versions: tuple[VersionEntry, ...]) -> dict[str, Any]:
    return {
        "data": [
            {
                "version": v.number,
                "createdAt": _rfc3339(v.created_at),
                "current": v.current,
                "available": v.available,
            }
            for v in versions
        ]
    }


def _header_body(header: Header) -> dict[str, Any]:
    if header.secret:
        return {"key": header.key, "secret": True}
    return {"key": header.key, "value": header.value}


def resolve_body(record: AuthRecord, credential: ResolvedCredential) -> dict[str, Any]:
    """The answer of resolve, as ResolveOut describes it (the one answer that holds secrets)."""
    body = {
        "authId": record.auth_id,
        "integrationId": record.integration_id,
        "authType": record.auth_type.value,
        "version": record.version,
        "headers": credential.headers,
        "query": credential.query,
        "allowedHosts": (
            list(credential.allowed_hosts) if credential.allowed_hosts is not None else None
        ),
    }
    if credential.expires_at is not None:
        body["expiresAt"] = _rfc3339(credential.expires_at)
    return body


class AuthList(_Answer):
    data: list[AuthOut]
    nextCursor: Annotated[
        str | None, Field(description="the `cursor` of the next page; null on the last")
    ]


class ResolveOut(_Answer):
    """What to put on the outbound request. The one response that carries secret values."""

    authId: Annotated[str, Field(pattern=r"^auth_[0-9A-Za-z]{12}$")]
    integrationId: Annotated[str, Field(pattern=ID_PATTERN)]
    authType: AuthType
    version: Annotated[int, Field(ge=1)]
    headers: dict[str, str]
    query: dict[str, str]
    allowedHosts: list[str] | None = Field(
        description="the hosts the credential may be sent to; null: any host"
    )
    expiresAt: Annotated[
        str,
        _UTC_DATE_TIME,
        Field(
            description="OAuth 2.0 types only (absent for the others): when the access token "
            "expires. Do not cache the answer past it."
        ),
    ] = omitted()
