"""The domain: auth types, the metadata record, the secret credential and their validation.

Validation here is the only place the contract's field rules live, so the HTTP layer, the CLI
and the client library all agree on them. Secret values are `SecretStr` until `resolve` or the
Vault document reveals them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)

from vaultauth.errors import InvalidInput
from vaultauth.headers import MAX_ALLOWED_HOSTS, is_forbidden_header, normalise_host_pattern

MAX_HEADERS = 32
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 4096
MAX_USERNAME = 256
MAX_PASSWORD = 512
MAX_TOKEN = 16384
MAX_API_KEY_VALUE = 4096

# RFC 9110 field-name: a "token" of visible ASCII without separators.
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# RFC 9110 field-value, without obs-text: visible ASCII, space and tab.
_FORBIDDEN_VALUE_CHARS = re.compile(r"[^\t\x20-\x7e]")


class AuthType(StrEnum):
    NO_AUTH = "NO_AUTH"
    BASIC_AUTH = "BASIC_AUTH"
    BEARER_TOKEN = "BEARER_TOKEN"
    API_KEY = "API_KEY"

    @classmethod
    def parse(cls, value: object) -> AuthType:
        """Accept any casing (the published pages show both `api_key` and `API_KEY`)."""
        if isinstance(value, str):
            try:
                return cls(value.strip().upper())
            except ValueError:
                pass
        raise InvalidInput(
            "authType must be one of NO_AUTH, BASIC_AUTH, BEARER_TOKEN, API_KEY",
            code="invalid_auth_type",
            field="authType",
        )


class ApiKeyPosition(StrEnum):
    HEADER = "header"
    QUERY = "query"


def _check_field_name(value: str) -> str:
    if not _TOKEN_RE.fullmatch(value):
        raise ValueError("must be a valid HTTP field name (letters, digits and !#$%&'*+-.^_`|~)")
    return value


def _check_field_value(value: str) -> str:
    if _FORBIDDEN_VALUE_CHARS.search(value):
        raise ValueError("must be visible ASCII, spaces or tabs (no CR, LF or control characters)")
    return value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


FieldName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_HEADER_NAME),
    AfterValidator(_check_field_name),
]
FieldValue = Annotated[
    str, StringConstraints(max_length=MAX_HEADER_VALUE), AfterValidator(_check_field_value)
]


def _check_secret_field_value(value: SecretStr) -> SecretStr:
    _check_field_value(value.get_secret_value())
    return value


# A bearer token or an API key value is sent as (part of) a header value: the same rule applies,
# or a CR/LF in it would inject headers into the outbound request.
BearerToken = Annotated[
    SecretStr,
    Field(min_length=1, max_length=MAX_TOKEN),
    AfterValidator(_check_secret_field_value),
]
ApiKeyValue = Annotated[
    SecretStr,
    Field(min_length=1, max_length=MAX_API_KEY_VALUE),
    AfterValidator(_check_secret_field_value),
]


class Header(BaseModel):
    """A static header sent with every outbound request under an auth.

    A `secret` header's value lives only in Vault: in the index and in answers it has none
    (`value` None), and its `repr()` never shows one. A plain header always has a value.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    key: FieldName
    value: FieldValue | None = None
    secret: StrictBool = False

    @model_validator(mode="after")
    def _plain_has_value(self) -> Header:
        if not self.secret and self.value is None:
            raise ValueError("value is required (it may be omitted only for a secret header)")
        return self

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "value" and self.secret and value is not None:
                yield name, "**********"
            else:
                yield name, value

    def without_secret(self) -> Header:
        """As the index keeps it and answers show it: a secret header loses its value."""
        return Header(key=self.key, secret=True) if self.secret else self


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


class NoAuthCredential(_Strict):
    kind: Literal["none"] = "none"


def _check_username(value: str) -> str:
    if ":" in value:
        raise ValueError("must not contain ':' (RFC 7617 splits user and password at it)")
    return _check_encodable(value)


def _check_encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _check_secret_encodable(value: SecretStr) -> SecretStr:
    _check_encodable(value.get_secret_value())
    return value


Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_USERNAME),
    AfterValidator(_check_username),
]
Password = Annotated[
    SecretStr, Field(max_length=MAX_PASSWORD), AfterValidator(_check_secret_encodable)
]


class BasicCredential(_Strict):
    username: Username
    password: Password


class BearerCredential(_Strict):
    token: BearerToken


class ApiKeyCredential(_Strict):
    key: FieldName
    value: ApiKeyValue
    position: Annotated[ApiKeyPosition, BeforeValidator(_lower)] = ApiKeyPosition.HEADER


Credential = NoAuthCredential | BasicCredential | BearerCredential | ApiKeyCredential


class _ApiKeyPatch(_Strict):
    key: FieldName
    value: ApiKeyValue | None = None
    position: Annotated[ApiKeyPosition, BeforeValidator(_lower)] | None = None


class _BasicPatch(_Strict):
    username: Username | None = None
    password: Password | None = None


class _BearerPatch(_Strict):
    token: BearerToken | None = None


_ERROR_CODES = {
    "missing": "missing_field",
    "string_too_long": "field_too_long",
    "too_long": "field_too_long",
}


def error_code_for(kind: str, field: str) -> str:
    """Our stable error code for a pydantic error type at `field`."""
    if field == "authType" and kind != "missing":
        return "invalid_auth_type"
    return _ERROR_CODES.get(kind, "invalid_field")


def invalid_input_from(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """Our InvalidInput for the first error of a pydantic ValidationError, without its input."""
    first = exc.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(part) for part in (*([prefix] if prefix else []), *first["loc"]))
    code = error_code_for(first["type"], field)
    return InvalidInput(f"{field or 'body'}: {first['msg']}", code=code, field=field or None)


def _credential_fields(auth_type: AuthType) -> tuple[str, ...]:
    return {
        AuthType.NO_AUTH: (),
        AuthType.BASIC_AUTH: ("username", "password"),
        AuthType.BEARER_TOKEN: ("token",),
        AuthType.API_KEY: ("apiKey",),
    }[auth_type]


def _relevant(auth_type: AuthType, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields of `auth_type`; the others are ignored, as the contract says."""
    return {
        name: fields[name] for name in _credential_fields(auth_type) if fields.get(name) is not None
    }


def parse_credential(auth_type: AuthType, fields: Mapping[str, Any]) -> Credential:
    """Validate the credential of a create body; fields of other auth types are ignored."""
    relevant = _relevant(auth_type, fields)
    try:
        match auth_type:
            case AuthType.NO_AUTH:
                return NoAuthCredential()
            case AuthType.BASIC_AUTH:
                return BasicCredential.model_validate(relevant)
            case AuthType.BEARER_TOKEN:
                return BearerCredential.model_validate(relevant)
            case AuthType.API_KEY:
                if "apiKey" not in relevant:
                    raise InvalidInput(
                        "apiKey is required for API_KEY", code="missing_field", field="apiKey"
                    )
                return ApiKeyCredential.model_validate(relevant["apiKey"])
    except ValidationError as exc:
        raise _missing_credential_or(exc, auth_type) from None


def patch_credential(
    auth_type: AuthType, current: Credential, fields: Mapping[str, Any]
) -> Credential:
    """Apply the credential fields of a PATCH body to `current` (same auth type)."""
    relevant = _relevant(auth_type, fields)
    if not relevant:
        return current
    try:
        if isinstance(current, BearerCredential):
            bearer = _BearerPatch.model_validate(relevant)
            return current if bearer.token is None else BearerCredential(token=bearer.token)
        if isinstance(current, BasicCredential):
            basic = _BasicPatch.model_validate(relevant)
            return BasicCredential(
                username=basic.username if basic.username is not None else current.username,
                password=basic.password if basic.password is not None else current.password,
            )
        if isinstance(current, ApiKeyCredential):
            patch = _ApiKeyPatch.model_validate(relevant["apiKey"])
            return ApiKeyCredential(
                key=patch.key,
                value=patch.value if patch.value is not None else current.value,
                position=patch.position if patch.position is not None else current.position,
            )
    except ValidationError as exc:
        raise invalid_input_from(exc, "apiKey" if auth_type is AuthType.API_KEY else "") from None
    return current


def _missing_credential_or(exc: ValidationError, auth_type: AuthType) -> InvalidInput:
    error = invalid_input_from(exc, "apiKey" if auth_type is AuthType.API_KEY else "")
    if error.code == "missing_field":
        error.code = "missing_credential"
        error.message = f"{error.field} is required for {auth_type.value}"
    return error


def credential_header_name(credential: Credential) -> str | None:
    """The header the credential itself produces, if any."""
    if isinstance(credential, BasicCredential | BearerCredential):
        return "Authorization"
    if isinstance(credential, ApiKeyCredential) and credential.position is ApiKeyPosition.HEADER:
        return credential.key
    return None


def public_headers(headers: tuple[Header, ...]) -> tuple[Header, ...]:
    """The headers as the index keeps them: secret ones without their values."""
    return tuple(header.without_secret() for header in headers)


def check_headers(credential: Credential, headers: tuple[Header, ...]) -> None:
    """Reject too many headers, duplicates, a missing value, a name that controls the connection,
    and a static header that clashes with the credential (create and PATCH)."""
    for position, header in enumerate(headers):
        if is_forbidden_header(header.key):
            raise InvalidInput(
                f"headers.{position}.key: names a header that controls the connection or the "
                "framing of the request",
                code="forbidden_header",
                field=f"headers.{position}.key",
            )
        if header.value is None:
            raise InvalidInput(
                f"headers.{position}.value: a secret header needs a value when it is new",
                code="missing_field",
                field=f"headers.{position}.value",
            )
    if (
        isinstance(credential, ApiKeyCredential)
        and credential.position is ApiKeyPosition.HEADER
        and is_forbidden_header(credential.key)
    ):
        raise InvalidInput(
            "apiKey.key: names a header that controls the connection or the framing of the request",
            code="forbidden_header",
            field="apiKey.key",
        )
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(
            f"at most {MAX_HEADERS} static headers are allowed",
            code="too_many_headers",
            field="headers",
        )
    seen: set[str] = set()
    for header in headers:
        name = header.key.lower()
        if name in seen:
            raise InvalidInput(
                "static header names must be unique (case-insensitively)",
                code="duplicate_header",
                field="headers",
            )
        seen.add(name)
    produced = credential_header_name(credential)
    if produced is not None and produced.lower() in seen:
        raise InvalidInput(
            "a static header has the same name as the header the credential produces",
            code="header_conflict",
            field="headers",
        )


MAX_LABEL = 128
_LABEL_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


def parse_label(value: object) -> str | None:
    """A record's `label`: None, or 1-128 printable characters (no CR, LF or other control)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_LABEL:
        raise InvalidInput(
            f"label must be 1-{MAX_LABEL} characters, or null",
            code="invalid_label",
            field="label",
        )
    if _LABEL_FORBIDDEN.search(value):
        raise InvalidInput(
            "label must be printable characters (no CR, LF or other control characters)",
            code="invalid_label",
            field="label",
        )
    return value


# RFC 3339's date-time (a zone required; no leap second; years 1000-8999, so that no zone
# offset takes it out of range), in a syntax both Python's `re` and ECMA-262 read, so the
# OpenAPI document states the same rule.
RFC3339_PATTERN = (
    r"^[1-8][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]"
    r":[0-5][0-9](\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)


def parse_moment(value: object, field: str) -> datetime | None:
    """An RFC 3339 date-time with a time zone, in UTC; None for null."""
    if value is None:
        return None
    problem = InvalidInput(
        f"{field} must be an RFC 3339 date-time with a time zone, e.g. 2027-01-31T00:00:00Z",
        code="invalid_datetime",
        field=field,
    )
    if not isinstance(value, str) or len(value) > 64 or not _RFC3339.fullmatch(value):
        raise problem
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        raise problem from None  # a day the month does not have, or out of range


def parse_allowed_hosts(value: object) -> tuple[str, ...] | None:
    """`allowedHosts` as given on create or PATCH: None (unrestricted), or 1-32 host names or
    `*.` patterns, in lower case and without duplicates."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidInput(
            "allowedHosts must be a non-empty list of host names, or null for any host",
            code="invalid_allowed_hosts",
            field="allowedHosts",
        )
    if len(value) > MAX_ALLOWED_HOSTS:
        raise InvalidInput(
            f"allowedHosts may name at most {MAX_ALLOWED_HOSTS} hosts",
            code="too_many_allowed_hosts",
            field="allowedHosts",
        )
    hosts: list[str] = []
    for position, entry in enumerate(value):
        try:
            if not isinstance(entry, str):
                raise ValueError("must be a string")
            host = normalise_host_pattern(entry)
        except ValueError as exc:
            raise InvalidInput(
                f"allowedHosts.{position}: {exc}",
                code="invalid_allowed_hosts",
                field=f"allowedHosts.{position}",
            ) from None
        if host not in hosts:
            hosts.append(host)
    return tuple(hosts)


@dataclass(frozen=True)
class AuthRecord:
    """The metadata of one auth: everything but the secret, as the index keeps it."""

    tenant: str
    integration_id: str
    auth_id: str
    auth_type: AuthType
    headers: tuple[Header, ...]
    api_key_name: str | None
    api_key_position: ApiKeyPosition | None
    version: int
    created_at: datetime
    updated_at: datetime
    allowed_hosts: tuple[str, ...] | None = None
    label: str | None = None
    expires_at: datetime | None = None
    rotate_after: datetime | None = None
    revision: int = 1  # counts every change of the record in the index: its ETag

    def with_changes(self, **changes: Any) -> AuthRecord:
        return replace(self, **changes)

    @property
    def due_at(self) -> datetime | None:
        """The earlier of `expires_at` and `rotate_after`: when the record needs attention."""
        moments = [m for m in (self.expires_at, self.rotate_after) if m is not None]
        return min(moments) if moments else None

    @property
    def etag(self) -> str:
        """A strong ETag: changes whenever any field of the record changes."""
        return f'"r{self.revision}"'


@dataclass(frozen=True)
class Page:
    records: list[AuthRecord]
    next_cursor: str | None


def record_fields_from(credential: Credential) -> dict[str, Any]:
    """The non-secret parts of a credential the index keeps (API key name and position)."""
    if isinstance(credential, ApiKeyCredential):
        return {"api_key_name": credential.key, "api_key_position": credential.position}
    return {"api_key_name": None, "api_key_position": None}
