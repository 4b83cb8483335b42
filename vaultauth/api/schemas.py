"""Wire schemas of the Integration Auth API (camelCase, as the contract spells them).

Input is liberal (any authType casing; headers as a list, an object or a nested list); output
is always canonical. Credential fields stay raw here and are validated by the domain once the
auth type is known, so fields of another type are ignored rather than rejected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from vaultauth.headers import MAX_ALLOWED_HOSTS
from vaultauth.models import (
    MAX_API_KEY_VALUE,
    MAX_LABEL,
    MAX_PASSWORD,
    MAX_TOKEN,
    MAX_USERNAME,
    AuthRecord,
    AuthType,
    Header,
)
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


def _secret_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "maxLength": max_length, "writeOnly": True})


_API_KEY_SCHEMA = WithJsonSchema(
    {
        "type": "object",
        "writeOnly": True,
        "required": ["key"],
        "properties": {
            "key": {"type": "string", "description": "header or query parameter name"},
            "value": {"type": "string", "maxLength": MAX_API_KEY_VALUE},
            "position": {"type": "string", "enum": ["header", "query"], "default": "header"},
        },
    }
)

_ALLOWED_HOSTS_SCHEMA = WithJsonSchema(
    {
        "type": ["array", "null"],
        "items": {"type": "string", "maxLength": 253},
        "minItems": 1,
        "maxItems": MAX_ALLOWED_HOSTS,
        "description": "hosts the credential may be sent to: names, or *.example.com for its "
        "subdomains at any depth; null or absent: any host",
    }
)

_LABEL_SCHEMA = WithJsonSchema(
    {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": MAX_LABEL,
        "description": "for people, e.g. 'Stripe live key, finance team'; null clears it",
    }
)


def _moment_schema(meaning: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "type": ["string", "null"],
            "format": "date-time",
            "description": f"{meaning}: RFC 3339 with a time zone; null clears it",
        }
    )


AuthTypeIn = Annotated[AuthType, BeforeValidator(_auth_type)]
HeadersIn = Annotated[list[Header], BeforeValidator(_headers)]


class _CredentialFields(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    token: Annotated[Any, _secret_schema(MAX_TOKEN), Field(repr=False)] = None
    username: Annotated[Any, WithJsonSchema({"type": "string", "maxLength": MAX_USERNAME})] = None
    password: Annotated[Any, _secret_schema(MAX_PASSWORD), Field(repr=False)] = None
    apiKey: Annotated[Any, _API_KEY_SCHEMA, Field(repr=False)] = None

    def credential_fields(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "username": self.username,
            "password": self.password,
            "apiKey": self.apiKey,
        }


class AuthCreateBody(_CredentialFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "authType": "BEARER_TOKEN",
                    "token": "<the bearer token>",
                    "headers": [{"key": "Accept", "value": "application/json"}],
                }
            ]
        }
    )

    authType: AuthTypeIn
    headers: HeadersIn = Field(default_factory=list)
    allowedHosts: Annotated[Any, _ALLOWED_HOSTS_SCHEMA] = None
    label: Annotated[Any, _LABEL_SCHEMA] = None
    expiresAt: Annotated[Any, _moment_schema("when the credential stops working")] = None
    rotateAfter: Annotated[Any, _moment_schema("when its owner means to rotate it")] = None

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
    allowedHosts: Annotated[Any, _ALLOWED_HOSTS_SCHEMA] = None
    label: Annotated[Any, _LABEL_SCHEMA] = None
    expiresAt: Annotated[Any, _moment_schema("when the credential stops working")] = None
    rotateAfter: Annotated[Any, _moment_schema("when its owner means to rotate it")] = None

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


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    version: int = Field(ge=1, description="the version whose content becomes current again")


class VersionOut(BaseModel):
    version: int
    createdAt: str
    current: bool
    available: bool


class VersionList(BaseModel):
    data: list[VersionOut]


class HeaderOut(BaseModel):
    """A static header; a secret one shows its name only (`secret: true`, no `value`)."""

    key: str
    value: str | None = None
    secret: bool | None = None


class ApiKeyOut(BaseModel):
    key: str
    position: str


def _rfc3339(moment: datetime) -> str:
    """`2023-11-07T05:31:56Z` (whole seconds, UTC)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class AuthOut(BaseModel):
    """The record: metadata only, never a secret value."""

    authId: str
    integrationId: str
    authType: AuthType
    headers: list[HeaderOut]
    apiKey: ApiKeyOut | None = None
    allowedHosts: list[str] | None = None
    label: str | None = None
    expiresAt: str | None = None
    rotateAfter: str | None = None
    version: int
    createdAt: str
    updatedAt: str

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
        "allowedHosts": list(record.allowed_hosts) if record.allowed_hosts is not None else None,
        "label": record.label,
        "expiresAt": _rfc3339(record.expires_at) if record.expires_at is not None else None,
        "rotateAfter": _rfc3339(record.rotate_after) if record.rotate_after is not None else None,
        "version": record.version,
        "createdAt": _rfc3339(record.created_at),
        "updatedAt": _rfc3339(record.updated_at),
    }


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
    return {
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


class AuthList(BaseModel):
    data: list[AuthOut]
    nextCursor: str | None


class ResolveOut(BaseModel):
    """What to put on the outbound request. The one response that carries secret values."""

    authId: str
    integrationId: str
    authType: AuthType
    version: int
    headers: dict[str, str]
    query: dict[str, str]
    allowedHosts: list[str] | None = Field(
        description="the hosts the credential may be sent to; null: any host"
    )


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail
