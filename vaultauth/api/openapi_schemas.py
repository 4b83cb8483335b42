"""What /openapi.json says the API accepts and answers: the one place that describes it.

Decision 21: the document describes what is *accepted* (liberal in) and answers strictly. It is a
description only. FastAPI still parses request bodies with `schemas.AuthCreateBody` and
`schemas.AuthUpdateBody` (raw credential fields), and the domain (`vaultauth.models`) validates
the credential once the auth type is known; those two runtime models take their JSON schema from
the schema-only models below (`json_schema_as`), and the routes take their error answers from
`responses_of`.

What JSON Schema can say, it says here: a create body is a union discriminated by `authType`
(both published spellings of each type), each variant with its required fields, lengths and
character rules; fields of other types are allowed (and ignored); `headers` in its three shapes;
PATCH fields optional and nullable (`null` means omitted). What it cannot say is in the field's
`description` and in docs/api.md ("Rules", "Errors"): header names unique case-insensitively,
a static header never named like the credential's own header when that name is another field's
value (`apiKey.key`), at most 32 headers across nested lists, a PATCH validated against the
stored record's type, a cursor this service issued.

A field or auth type is still parsed and validated where it was (`schemas.py`, `models.py`);
here it is described. To describe a new field:
- on create, whatever the auth type (`label`, `expiresAt`, `allowedHosts`): add it to
  `_CreateFields`, which every variant inherits, typed by its JSON (`WithJsonSchema` for what
  pydantic cannot say, `= omitted()` when it may be left out);
- of one auth type's credential: add it to that type's variant (required there when the type
  needs it); an object (`apiKey`, `oauth2`) is a model of its own, like `ApiKeyIn`;
- of a static header (`secret`): add it to the item in `headers_schema`;
- on PATCH: add it to `AuthUpdate` as `nullable(...)` with `= omitted()` when `null` means
  "omitted" (`nullable(..., more)` adds to its description); an object there has a PATCH model
  of its own, like `ApiKeyPatch`;
- in answers: add it to `AuthOut` in `schemas.py`, next to `record_body`, which builds it.
To describe a new auth type: a variant model (`authType: Literal["X", "x"]`, its fields, and
`headers_schema(_AUTHORIZATION)` if its credential is sent as `Authorization`) added to the
`AuthCreate` union, its spellings added to `_AUTH_TYPE_SPELLINGS` and its credential fields to
`AuthUpdate`. A new error code goes to `ERROR_CODES` and to the statuses of each operation that
can answer it in `OPERATIONS` (a new status, e.g. 412 or 429, is a new key there); a new route
passes `responses=responses_of(<its name in OPERATIONS>)`. `tests/api/test_openapi.py` checks
the description against the server, and `tests/api/test_fuzz.py` fuzzes the server against it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue

from vaultauth.headers import FORBIDDEN_HEADER_NAMES, MAX_ALLOWED_HOSTS
from vaultauth.models import (
    MAX_API_KEY_VALUE,
    MAX_AUDIENCE,
    MAX_CLIENT_ID,
    MAX_CLIENT_SECRET,
    MAX_HEADER_NAME,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    MAX_LABEL,
    MAX_PASSWORD,
    MAX_REFRESH_TOKEN,
    MAX_SCOPE,
    MAX_SCOPES,
    MAX_TOKEN,
    MAX_TOKEN_URL,
    MAX_USERNAME,
    RFC3339_PATTERN,
    SCOPE_PATTERN,
    VSCHAR_PATTERN,
)

JsonSchema = dict[str, Any]

# RFC 9110 field-name (a token) and field-value without obs-text, as `vaultauth.models` checks
# them. Written for both ECMA-262 and Python's `re`: a class, no flags, no lookaround.
FIELD_NAME_PATTERN = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
FIELD_VALUE_PATTERN = r"^[\t -~]*$"
NON_EMPTY_FIELD_VALUE_PATTERN = r"^[\t -~]+$"
USERNAME_PATTERN = r"^[^:]+$"


def _any_case(name: str) -> str:
    """A pattern matching exactly `name`, in any casing (`[Aa][Uu]...`)."""
    return (
        "^"
        + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in name)
        + "$"
    )


CURSOR_DESCRIPTION = (
    "Opaque: the `nextCursor` of the previous page. A string this service never handed out is "
    "422 `invalid_cursor`. A cursor stays valid while newer records arrive."
)

# -- static headers ----------------------------------------------------------------------------

_HEADERS_RULES = (
    f"At most {MAX_HEADERS} headers (the nested form counts every inner header). Names are "
    "unique, compared case-insensitively (422 `duplicate_header`), and none may be the name of "
    "the header the credential produces (422 `header_conflict`): `Authorization` for "
    "BASIC_AUTH and BEARER_TOKEN, `apiKey.key` for an API_KEY in the header. Answers always "
    "give the list."
)


def _header_name(reserved: tuple[str, ...]) -> JsonSchema:
    """A static header's name: never one that controls the connection or the framing of the
    request (422 `forbidden_header`), nor one of `reserved` (the credential's own)."""
    refused = sorted(FORBIDDEN_HEADER_NAMES) + [name.lower() for name in reserved]
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_HEADER_NAME,
        "pattern": FIELD_NAME_PATTERN,
        "description": "an HTTP field name (RFC 9110 token characters); not one of "
        + ", ".join(refused)
        + " (compared case-insensitively)",
        "not": {"anyOf": [{"pattern": _any_case(name)} for name in refused]},
    }


_HEADER_VALUE: JsonSchema = {
    "type": "string",
    "maxLength": MAX_HEADER_VALUE,
    "pattern": FIELD_VALUE_PATTERN,
    "description": "visible ASCII, spaces and tabs (no CR, LF or other control characters)",
}


_SECRET_FLAG: JsonSchema = {
    "type": "boolean",
    "description": "true: the value is a secret, kept in Vault only; answers show the name "
    "alone and resolve gives the value",
}


def headers_schema(reserved: tuple[str, ...] = (), *, patch: bool = False) -> JsonSchema:
    """`headers` in its three accepted shapes; `reserved` are names the credential uses. On
    PATCH a secret header may come without its value (the stored one is kept)."""
    properties = {"key": _header_name(reserved), "value": _HEADER_VALUE, "secret": _SECRET_FLAG}
    header: JsonSchema = {"type": "object", "required": ["key", "value"], "properties": properties}
    if patch:
        header = {
            "type": "object",
            "required": ["key"],
            "properties": properties,
            "anyOf": [
                {"required": ["value"]},
                {"required": ["secret"], "properties": {"secret": {"const": True}}},
            ],
        }
    return {
        "description": (
            "Static headers sent with every outbound request under this auth: a list of "
            "`{key, value}`, an object `{name: value}`, or a list holding lists of `{key, "
            "value}` (the published PATCH example). " + _HEADERS_RULES
        ),
        "anyOf": [
            {"type": "array", "maxItems": MAX_HEADERS, "items": header},
            {
                "type": "object",
                "maxProperties": MAX_HEADERS,
                "propertyNames": _header_name(reserved),
                "additionalProperties": _HEADER_VALUE,
            },
            {
                "type": "array",
                "items": {"anyOf": [header, {"type": "array", "items": header}]},
                "contains": {"type": "array"},
            },
        ],
    }


def _none() -> None:
    return None


def omitted() -> Any:
    """The default of a field that may be omitted: none is shown in the document (a default
    would describe a value the client never sent)."""
    return Field(default_factory=_none)


def nullable(schema: JsonSchema, more: str = "") -> JsonSchema:
    """`schema` or `null` (on PATCH, the same as omitting the field); the description, with
    `more` added, is the field's."""
    inner = {k: v for k, v in schema.items() if k != "description"}
    description = " ".join(part for part in (schema.get("description", ""), more) if part)
    described = {"description": description} if description else {}
    return {"anyOf": [inner, {"type": "null"}], **described}


# -- credentials ---------------------------------------------------------------------------------

_SECRET = " A secret: stored in Vault only, never in an answer but resolve's."
TOKEN: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TOKEN,
    "pattern": NON_EMPTY_FIELD_VALUE_PATTERN,
    "writeOnly": True,
    "description": "The bearer token or JWT, sent as `Authorization: Bearer <token>`: visible "
    "ASCII, spaces and tabs." + _SECRET,
}
USERNAME: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_USERNAME,
    "pattern": USERNAME_PATTERN,
    "description": "Without `:` (RFC 7617 splits at it); Unicode text (no lone surrogate).",
}
PASSWORD: JsonSchema = {
    "type": "string",
    "maxLength": MAX_PASSWORD,
    "writeOnly": True,
    "description": "With `username`, base64-encoded into `Authorization: Basic ...`; Unicode "
    "text (no lone surrogate)." + _SECRET,
}
_API_KEY_NAME: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_HEADER_NAME,
    "pattern": FIELD_NAME_PATTERN,
    "description": "The header or query parameter name (RFC 9110 token characters).",
}
_API_KEY_VALUE: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_API_KEY_VALUE,
    "pattern": NON_EMPTY_FIELD_VALUE_PATTERN,
    "writeOnly": True,
    "description": "The key: visible ASCII, spaces and tabs." + _SECRET,
}
_API_KEY_POSITION: JsonSchema = {
    "type": "string",
    "enum": ["header", "query"],
    "description": "Where the key goes: `header` when omitted.",
}


class ApiKeyIn(BaseModel):
    """An API key: where it goes and the secret. Other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    key: Annotated[str, WithJsonSchema(_API_KEY_NAME)]
    value: Annotated[str, WithJsonSchema(_API_KEY_VALUE)]
    position: Annotated[str | None, WithJsonSchema(_API_KEY_POSITION)] = omitted()


class ApiKeyPatch(BaseModel):
    """An API key on PATCH: it replaces the stored one, but an omitted or `null` `value` or
    `position` keeps the stored one."""

    model_config = ConfigDict(extra="allow")

    key: Annotated[str, WithJsonSchema(_API_KEY_NAME)]
    value: Annotated[str | None, WithJsonSchema(nullable(_API_KEY_VALUE))] = omitted()
    position: Annotated[str | None, WithJsonSchema(nullable(_API_KEY_POSITION))] = omitted()


# -- fields of every record ---------------------------------------------------------------------

_HOST_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^(\*\.)?{_HOST_LABEL}(\.{_HOST_LABEL})*\.?$"
ALLOWED_HOSTS: JsonSchema = {
    "type": ["array", "null"],
    "items": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": HOST_PATTERN},
    "minItems": 1,
    "maxItems": MAX_ALLOWED_HOSTS,
    "description": "The hosts the credential may be sent to: names, or `*.example.com` for "
    "its subdomains at any depth (not example.com itself); ports are ignored. `null` or "
    "absent: any host; `[]` is 422 `invalid_allowed_hosts`. On PATCH `null` lifts the "
    "restriction. Enforced by the client library and stored in Vault too.",
}
LABEL: JsonSchema = {
    "type": ["string", "null"],
    "minLength": 1,
    "maxLength": MAX_LABEL,
    "pattern": r"^[^\x00-\x1f\x7f]+$",
    "description": "For people, e.g. 'Stripe live key, finance team' (no control "
    "characters); on PATCH `null` clears it.",
}


def moment(meaning: str) -> JsonSchema:
    return {
        "type": ["string", "null"],
        "format": "date-time",
        "maxLength": 64,
        "pattern": RFC3339_PATTERN,
        "description": f"{meaning}: RFC 3339 with a time zone (422 `invalid_datetime` "
        "otherwise); on PATCH `null` clears it.",
    }


EXPIRES_AT = moment("When the credential stops working")
ROTATE_AFTER = moment("When its owner means to rotate it")


# -- create: one variant per auth type -----------------------------------------------------------

_AUTHORIZATION = ("Authorization",)


class _CreateFields(BaseModel):
    """Fields any create body may carry. Fields of another auth type are allowed and ignored
    (not stored, not rejected): the published example sends every credential field."""

    model_config = ConfigDict(extra="allow")

    headers: Annotated[list[Any] | None, WithJsonSchema(headers_schema())] = omitted()
    allowedHosts: Annotated[list[str] | None, WithJsonSchema(ALLOWED_HOSTS)] = omitted()
    label: Annotated[str | None, WithJsonSchema(LABEL)] = omitted()
    expiresAt: Annotated[str | None, WithJsonSchema(EXPIRES_AT)] = omitted()
    rotateAfter: Annotated[str | None, WithJsonSchema(ROTATE_AFTER)] = omitted()


class NoAuthCreate(_CreateFields):
    """No credential: only static headers are sent."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"authType": "NO_AUTH", "headers": {"X-Tenant": "t1"}}]}
    )

    authType: Literal["NO_AUTH", "no_auth"]


class BasicAuthCreate(_CreateFields):
    """HTTP Basic: `Authorization: Basic base64(username:password)`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"authType": "BASIC_AUTH", "username": "svc-user", "password": "<the password>"}
            ]
        }
    )

    authType: Literal["BASIC_AUTH", "basic_auth"]
    username: Annotated[str, WithJsonSchema(USERNAME)]
    password: Annotated[str, WithJsonSchema(PASSWORD)]
    headers: Annotated[list[Any] | None, WithJsonSchema(headers_schema(_AUTHORIZATION))] = omitted()


class BearerTokenCreate(_CreateFields):
    """A bearer token or JWT: `Authorization: Bearer <token>`."""

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

    authType: Literal["BEARER_TOKEN", "bearer_token"]
    token: Annotated[str, WithJsonSchema(TOKEN)]
    headers: Annotated[list[Any] | None, WithJsonSchema(headers_schema(_AUTHORIZATION))] = omitted()


class ApiKeyCreate(_CreateFields):
    """An API key, sent as a header or a query parameter."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "authType": "API_KEY",
                    "apiKey": {"key": "X-Api-Key", "value": "<the key>", "position": "header"},
                }
            ]
        }
    )

    authType: Literal["API_KEY", "api_key"]
    apiKey: ApiKeyIn


# -- OAuth 2.0 ---------------------------------------------------------------------------------

_TOKEN_URL: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TOKEN_URL,
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[!-~]+$",
    "format": "uri",
    "description": "The token endpoint: an https URL without user info or fragment; plain "
    "http only for a host in VAULTAUTH_OAUTH_INSECURE_HOSTS, and only hosts in "
    "VAULTAUTH_OAUTH_ALLOWED_HOSTS when that is set (else 422 `token_url_not_allowed`).",
}
_CLIENT_ID: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CLIENT_ID,
    "pattern": VSCHAR_PATTERN,
    "description": "The client identifier (printable ASCII).",
}
_CLIENT_SECRET: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CLIENT_SECRET,
    "pattern": VSCHAR_PATTERN,
    "writeOnly": True,
    "description": "The client secret (printable ASCII)." + _SECRET,
}
_REFRESH_TOKEN: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_REFRESH_TOKEN,
    "pattern": VSCHAR_PATTERN,
    "writeOnly": True,
    "description": "The refresh token (printable ASCII); a rotated one the endpoint returns "
    "replaces it in Vault." + _SECRET,
}
_SCOPES: JsonSchema = {
    "type": "array",
    "maxItems": MAX_SCOPES,
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_SCOPE, "pattern": SCOPE_PATTERN},
    "description": "Scope tokens, sent space-separated as `scope`; none by default.",
}
_AUDIENCE: JsonSchema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_AUDIENCE,
    "pattern": VSCHAR_PATTERN,
    "description": "Sent as `audience` when set (client credentials only; ignored otherwise).",
}
_CLIENT_AUTH: JsonSchema = {
    "type": "string",
    "enum": ["basic", "body"],
    "description": "`basic` (the default): HTTP Basic with the form-encoded client id and "
    "secret (RFC 6749 §2.3.1); `body`: `client_id`/`client_secret` form fields. A client "
    "without a secret always sends `client_id` in the body.",
}


class OAuth2ClientCredentialsIn(BaseModel):
    """Client credentials (RFC 6749 §4.4). Other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    tokenUrl: Annotated[str, WithJsonSchema(_TOKEN_URL)]
    clientId: Annotated[str, WithJsonSchema(_CLIENT_ID)]
    clientSecret: Annotated[str, WithJsonSchema(_CLIENT_SECRET)]
    scopes: Annotated[list[str] | None, WithJsonSchema(_SCOPES)] = omitted()
    audience: Annotated[str | None, WithJsonSchema(_AUDIENCE)] = omitted()
    clientAuth: Annotated[str | None, WithJsonSchema(_CLIENT_AUTH)] = omitted()


class OAuth2RefreshTokenIn(BaseModel):
    """A refresh token grant (RFC 6749 §6). Other fields (`audience`) are ignored."""

    model_config = ConfigDict(extra="allow")

    tokenUrl: Annotated[str, WithJsonSchema(_TOKEN_URL)]
    clientId: Annotated[str, WithJsonSchema(_CLIENT_ID)]
    refreshToken: Annotated[str, WithJsonSchema(_REFRESH_TOKEN)]
    clientSecret: Annotated[str | None, WithJsonSchema(_CLIENT_SECRET)] = omitted()
    scopes: Annotated[list[str] | None, WithJsonSchema(_SCOPES)] = omitted()
    clientAuth: Annotated[str | None, WithJsonSchema(_CLIENT_AUTH)] = omitted()


class OAuth2Patch(BaseModel):
    """On PATCH the object replaces the stored one: secrets omitted (or `null`) are kept,
    other fields omitted take their defaults. A change of anything but `clientAuth` discards
    the access token held so far."""

    model_config = ConfigDict(extra="allow")

    tokenUrl: Annotated[str, WithJsonSchema(_TOKEN_URL)]
    clientId: Annotated[str, WithJsonSchema(_CLIENT_ID)]
    clientSecret: Annotated[str | None, WithJsonSchema(nullable(_CLIENT_SECRET))] = omitted()
    refreshToken: Annotated[str | None, WithJsonSchema(nullable(_REFRESH_TOKEN))] = omitted()
    scopes: Annotated[list[str] | None, WithJsonSchema(nullable(_SCOPES))] = omitted()
    audience: Annotated[str | None, WithJsonSchema(nullable(_AUDIENCE))] = omitted()
    clientAuth: Annotated[str | None, WithJsonSchema(nullable(_CLIENT_AUTH))] = omitted()


class OAuth2ClientCredentialsCreate(_CreateFields):
    """Managed OAuth 2.0, client credentials: resolve answers `Authorization: Bearer <access
    token>`, a token the facade obtains and refreshes itself (one request per expiry across
    every replica)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "authType": "OAUTH2_CLIENT_CREDENTIALS",
                    "oauth2": {
                        "tokenUrl": "https://auth.example.com/oauth/token",
                        "clientId": "svc-billing",
                        "clientSecret": "<the client secret>",
                        "scopes": ["invoices.read"],
                    },
                }
            ]
        }
    )

    authType: Literal["OAUTH2_CLIENT_CREDENTIALS", "oauth2_client_credentials"]
    oauth2: OAuth2ClientCredentialsIn
    headers: Annotated[list[Any] | None, WithJsonSchema(headers_schema(_AUTHORIZATION))] = omitted()


class OAuth2RefreshTokenCreate(_CreateFields):
    """Managed OAuth 2.0, refresh token: the facade refreshes the access token with the stored
    refresh token, and stores a rotated one before it uses the new access token."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "authType": "OAUTH2_REFRESH_TOKEN",
                    "oauth2": {
                        "tokenUrl": "https://auth.example.com/oauth/token",
                        "clientId": "crm-sync",
                        "clientSecret": "<the client secret>",
                        "refreshToken": "<the refresh token>",
                    },
                }
            ]
        }
    )

    authType: Literal["OAUTH2_REFRESH_TOKEN", "oauth2_refresh_token"]
    oauth2: OAuth2RefreshTokenIn
    headers: Annotated[list[Any] | None, WithJsonSchema(headers_schema(_AUTHORIZATION))] = omitted()


AuthCreate = Annotated[
    NoAuthCreate
    | BasicAuthCreate
    | BearerTokenCreate
    | ApiKeyCreate
    | OAuth2ClientCredentialsCreate
    | OAuth2RefreshTokenCreate,
    Field(discriminator="authType"),
]


# -- PATCH ---------------------------------------------------------------------------------------

_AUTH_TYPE_SPELLINGS: JsonSchema = {
    "type": "string",
    "enum": [
        "NO_AUTH",
        "BASIC_AUTH",
        "BEARER_TOKEN",
        "API_KEY",
        "no_auth",
        "basic_auth",
        "bearer_token",
        "api_key",
        "OAUTH2_CLIENT_CREDENTIALS",
        "OAUTH2_REFRESH_TOKEN",
        "oauth2_client_credentials",
        "oauth2_refresh_token",
    ],
}
_ONLY_FOR = "Validated only when the record's authType is {}; ignored on other records."


class AuthUpdate(BaseModel):
    """A partial update: only the fields present change; a field omitted or `null` keeps its
    value. Credential fields apply to the record's own auth type and are ignored on others."""

    model_config = ConfigDict(extra="allow", title="AuthUpdate")

    authType: Annotated[
        str | None,
        WithJsonSchema(
            nullable(
                _AUTH_TYPE_SPELLINGS,
                "authType is permanent: naming the record's own type is harmless, naming "
                "another is 422 `auth_type_immutable`.",
            )
        ),
    ] = omitted()
    token: Annotated[
        str | None, WithJsonSchema(nullable(TOKEN, _ONLY_FOR.format("BEARER_TOKEN")))
    ] = omitted()
    username: Annotated[
        str | None, WithJsonSchema(nullable(USERNAME, _ONLY_FOR.format("BASIC_AUTH")))
    ] = omitted()
    password: Annotated[
        str | None, WithJsonSchema(nullable(PASSWORD, _ONLY_FOR.format("BASIC_AUTH")))
    ] = omitted()
    apiKey: Annotated[ApiKeyPatch | None, Field(description=_ONLY_FOR.format("API_KEY"))] = (
        omitted()
    )
    oauth2: Annotated[
        OAuth2Patch | None, Field(description=_ONLY_FOR.format("one of the OAUTH2_ types"))
    ] = omitted()
    headers: Annotated[
        list[Any] | None,
        WithJsonSchema(
            nullable(
                headers_schema(patch=True),
                "On PATCH a list (in any shape) replaces the stored list and `[]` removes "
                "them all; a secret header given without a value keeps its stored value.",
            )
        ),
    ] = omitted()
    allowedHosts: Annotated[list[str] | None, WithJsonSchema(ALLOWED_HOSTS)] = omitted()
    label: Annotated[str | None, WithJsonSchema(LABEL)] = omitted()
    expiresAt: Annotated[str | None, WithJsonSchema(EXPIRES_AT)] = omitted()
    rotateAfter: Annotated[str | None, WithJsonSchema(ROTATE_AFTER)] = omitted()


_CREATE = TypeAdapter(AuthCreate)
_UPDATE = TypeAdapter(AuthUpdate)


def json_schema_as(description: TypeAdapter[Any], handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    """The JSON schema of `description`, to stand in the document for a runtime model's own."""
    schema = handler(description.core_schema)
    if "$ref" in schema:  # a model: its own definition, not a pointer to it
        schema = dict(handler.resolve_ref_schema(schema))
        schema.pop("title", None)
    return schema


def create_body_schema(handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    """For `AuthCreateBody.__get_pydantic_json_schema__`."""
    return json_schema_as(_CREATE, handler)


def update_body_schema(handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    """For `AuthUpdateBody.__get_pydantic_json_schema__`."""
    return json_schema_as(_UPDATE, handler)


# -- answers: the error shape, the errors of each operation, links -------------------------------


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="stable snake_case")]
    message: Annotated[
        str, Field(min_length=1, description="for a person; never repeats a submitted value")
    ]
    field: Annotated[str, Field(description="the field at fault, when there is one")] = omitted()


class ErrorOut(BaseModel):
    """Every error answer: `{"error": {"code", "message", "field"?}}`."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


ERROR_CODES: dict[str, str] = {
    "malformed_json": "the body is not JSON (bytes that are not UTF-8 or a NUL byte included)",
    "bad_request": "the body could not be read at all",
    "unauthenticated": "X-API-Key missing, malformed, unknown or revoked",
    "forbidden": "the key lacks the scope of the call",
    "not_found": "no such record (also when it belongs to another tenant)",
    "conflict": "a concurrent change won the check-and-set: read again and retry",
    "payload_too_large": "the body is over the limit (64 KiB by default)",
    "unsupported_content_encoding": "the body has a Content-Encoding other than identity",
    "invalid_id": "an integrationId or authId outside `^[A-Za-z0-9_-]{1,64}$`",
    "invalid_auth_type": "an authType that is not one of the types",
    "missing_field": "a required field is absent",
    "missing_credential": "a credential field the authType requires is absent",
    "field_too_long": "a field over its length limit",
    "invalid_field": "a field of the wrong type, shape or characters",
    "header_conflict": "a static header named like the header the credential produces",
    "duplicate_header": "two static headers with the same name (compared case-insensitively)",
    "too_many_headers": f"more than {MAX_HEADERS} static headers",
    "auth_type_immutable": "a PATCH naming another authType than the record's",
    "forbidden_header": "a header name that controls the connection or the framing",
    "invalid_allowed_hosts": "allowedHosts is not a non-empty list of host names or patterns",
    "too_many_allowed_hosts": f"more than {MAX_ALLOWED_HOSTS} allowedHosts",
    "invalid_label": "a label that is empty, too long or holds control characters",
    "invalid_datetime": "a date-time that is not RFC 3339 with a time zone",
    "invalid_idempotency_key": "an Idempotency-Key that is not 1-255 printable ASCII characters",
    "idempotency_key_reused": "an Idempotency-Key used before with another body",
    "idempotency_in_progress": "the first create with this Idempotency-Key is still running",
    "precondition_failed": "If-Match names another revision of the record",
    "rate_limited": "too many failed authentications from this address",
    "version_not_found": "no such version of the record",
    "version_unavailable": "that version is no longer kept by Vault",
    "token_url_not_allowed": "an OAuth 2.0 tokenUrl this deployment does not let the facade call",
    "oauth_token_failed": "the token endpoint refused, failed, timed out or gave no token "
    "(its answer is never passed on); Retry-After says when the next request may go",
    "oauth_refresh_rejected": "the token endpoint refused the stored refresh token "
    "(invalid_grant): store a new one with PATCH",
    "oauth_token_pending": "another facade is obtaining the access token and has not finished",
    "oauth_disabled": "this facade was built without a token broker",
    "invalid_cursor": "a cursor this service did not hand out",
    "malformed_secret_document": "the record's document in Vault is not one vaultauth wrote",
    "vault_unavailable": "Vault could not serve the request",
    "vault_timeout": "Vault did not answer in time",
    "vault_sealed": "Vault is sealed or not ready",
    "vault_forbidden": "Vault refused the facade's token",
    "vault_misconfigured": "the KV v2 mount is missing or of another kind",
    "vault_not_configured": "no Vault address is configured",
    "vault_login_failed": "the facade could not log in to Vault",
    "vault_unreachable": "Vault is unreachable",
    "vault_lagging": "a Vault standby has not caught up with the last write",
    "vault_outcome_unknown": "a write whose outcome Vault did not confirm",
    "vault_bad_answer": "Vault answered something unexpected",
    "index_unavailable": "the metadata index cannot be reached",
    "index_error": "the metadata index cannot run the query (schema not migrated?)",
}

_KEY = {401: ("unauthenticated",), 403: ("forbidden",), 429: ("rate_limited",)}
_BODY = {
    400: ("malformed_json", "bad_request"),
    413: ("payload_too_large",),
    415: ("unsupported_content_encoding",),
}
_INDEX = ("index_unavailable", "index_error")
_VAULT = (
    "vault_unavailable",
    "vault_timeout",
    "vault_sealed",
    "vault_forbidden",
    "vault_misconfigured",
    "vault_not_configured",
    "vault_login_failed",
    "vault_unreachable",
    "vault_lagging",
    "vault_outcome_unknown",
    "vault_bad_answer",
    *_INDEX,
)
_HEADERS = ("header_conflict", "duplicate_header", "too_many_headers", "forbidden_header")
_RECORD_FIELDS = (
    "token_url_not_allowed",
    "invalid_allowed_hosts",
    "too_many_allowed_hosts",
    "invalid_label",
    "invalid_datetime",
)
_FIELD_RULES = ("missing_field", "field_too_long", "invalid_field")

# The error statuses of each operation, with the codes each can carry. Keys are the names
# routes pass to `responses_of`.
OPERATIONS: dict[str, dict[int, tuple[str, ...]]] = {
    "create": {
        **_BODY,
        **_KEY,
        404: ("not_found",),  # a repeated Idempotency-Key whose record was deleted since
        409: ("conflict", "idempotency_in_progress"),
        422: (
            "invalid_id",
            "invalid_auth_type",
            "missing_credential",
            "invalid_idempotency_key",
            "idempotency_key_reused",
            *_FIELD_RULES,
            *_HEADERS,
            *_RECORD_FIELDS,
        ),
        503: _VAULT,
    },
    "list": {**_KEY, 422: ("invalid_id", "invalid_cursor", *_FIELD_RULES), 503: _INDEX},
    "due": {
        **_KEY,
        422: ("invalid_datetime", "invalid_cursor", "field_too_long", "invalid_field"),
        503: _INDEX,
    },
    "get": {**_KEY, 404: ("not_found",), 422: ("invalid_id",), 503: _INDEX},
    "update": {
        **_BODY,
        **_KEY,
        404: ("not_found",),
        409: ("conflict",),
        412: ("precondition_failed",),
        422: (
            "invalid_id",
            "invalid_auth_type",
            "auth_type_immutable",
            *_FIELD_RULES,
            *_HEADERS,
            *_RECORD_FIELDS,
        ),
        502: ("malformed_secret_document",),
        503: _VAULT,
    },
    "delete": {
        **_KEY,
        404: ("not_found",),
        412: ("precondition_failed",),
        422: ("invalid_id",),
        503: _VAULT,
    },
    "versions": {**_KEY, 404: ("not_found",), 422: ("invalid_id",), 503: _VAULT},
    "rollback": {
        **_BODY,
        **_KEY,
        404: ("not_found", "version_not_found"),
        409: ("conflict",),
        412: ("precondition_failed",),
        422: ("invalid_id", "version_unavailable", *_FIELD_RULES),
        502: ("malformed_secret_document",),
        503: _VAULT,
    },
    "resolve": {
        **_KEY,
        404: ("not_found",),
        409: ("conflict",),  # the record kept changing while its access token was obtained
        422: ("invalid_id", "token_url_not_allowed"),
        502: ("malformed_secret_document", "oauth_token_failed", "oauth_refresh_rejected"),
        503: (*_VAULT, "oauth_token_pending", "oauth_disabled"),
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
_ACCEPT_ENCODING = {
    "Accept-Encoding": {
        "description": "the one content coding taken",
        "required": True,
        "schema": {"type": "string", "enum": ["identity"]},
    }
}
_ITEM = "~1v1~1integrations~1{integrationId}~1auth~1{authId}"
_RECORD = {"integrationId": "$request.path.integrationId", "authId": "$response.body#/authId"}
# Where an answer leads (OpenAPI links): clients and the stateful fuzzer follow them.
_LINKS: dict[str, dict[int | str, dict[str, Any]]] = {
    "create": {
        200: {
            "links": {
                "GetAuth": {"operationRef": f"#/paths/{_ITEM}/get", "parameters": _RECORD},
                "UpdateAuth": {"operationRef": f"#/paths/{_ITEM}/patch", "parameters": _RECORD},
                "ResolveAuth": {
                    "operationRef": f"#/paths/{_ITEM}~1resolve/post",
                    "parameters": _RECORD,
                },
                "DeleteAuth": {"operationRef": f"#/paths/{_ITEM}/delete", "parameters": _RECORD},
            }
        }
    },
    "resolve": {
        200: {
            "headers": {
                "Cache-Control": {
                    "description": "the answer holds secrets: never stored",
                    "required": True,
                    "schema": {"type": "string", "enum": ["no-store"]},
                }
            }
        }
    },
}


def _error_response(status: int, codes: tuple[str, ...]) -> dict[str, Any]:
    listed = "; ".join(f"`{code}`: {ERROR_CODES[code]}" for code in codes)
    code_schema = {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}}
    response: dict[str, Any] = {
        "model": ErrorOut,  # the component; the schema below narrows its `code`
        "description": listed,
        "content": {"application/json": {"schema": code_schema}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    if status == 502 and "oauth_token_failed" in codes:
        response["headers"] = {
            "Retry-After": {**_RETRY_AFTER["Retry-After"], "required": False},
        }
    if status == 415:
        response["headers"] = _ACCEPT_ENCODING
    return response


def responses_of(
    operation: str, more: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: its error statuses with their codes, its links, and `more`
    (merged into the same status, e.g. the ETag header of a 200)."""
    responses: dict[int | str, dict[str, Any]] = {
        status: _error_response(status, codes)
        for status, codes in sorted(OPERATIONS[operation].items())
    }
    for extra in (_LINKS.get(operation, {}), more or {}):
        for status, parts in extra.items():
            merged = responses.setdefault(status, {})
            for name, value in parts.items():
                if isinstance(value, dict) and isinstance(merged.get(name), dict):
                    merged[name] = {**merged[name], **value}
                else:
                    merged[name] = value
    return responses


def _references(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        for item in value.values():
            found |= _references(item)
        return found
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value))
    return set()


def drop_unreferenced_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Remove the components nothing refers to: the parts of the runtime body models (`Header`)
    that FastAPI adds although the document describes those bodies with the models above."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    prefix = "#/components/schemas/"
    while True:
        used = {ref.removeprefix(prefix) for ref in _references(document)}
        unused = [name for name in schemas if name not in used]
        if not unused:
            return document
        for name in unused:
            del schemas[name]


def install(app: FastAPI) -> None:
    """Serve `app`'s document with the unreferenced components dropped."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return drop_unreferenced_schemas(generate())

    app.openapi = openapi  # type: ignore[method-assign]
