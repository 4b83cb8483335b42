"""The domain: auth types, the metadata record, the secret credential and their validation.

Validation here is the only place the contract's field rules live, so the HTTP layer, the CLI
and the client library all agree on them. Secret values are `SecretStr` until `resolve` or the
Vault document reveals them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

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
    OAUTH2_CLIENT_CREDENTIALS = "OAUTH2_CLIENT_CREDENTIALS"
    OAUTH2_REFRESH_TOKEN = "OAUTH2_REFRESH_TOKEN"

    @property
    def is_oauth2(self) -> bool:
        """Whether the facade obtains the credential (an access token) itself."""
        return self in (AuthType.OAUTH2_CLIENT_CREDENTIALS, AuthType.OAUTH2_REFRESH_TOKEN)

    @classmethod
    def parse(cls, value: object) -> AuthType:
        """Accept any casing (the published pages show both `api_key` and `API_KEY`)."""
        if isinstance(value, str):
            try:
                return cls(value.strip().upper())
            except ValueError:
                pass
        raise InvalidInput(
            "authType must be one of " + ", ".join(t.value for t in cls),
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


MAX_TOKEN_URL = 2048
MAX_CLIENT_ID = 256
MAX_CLIENT_SECRET = 1024
MAX_REFRESH_TOKEN = 4096
MAX_SCOPES = 64
MAX_SCOPE = 256
MAX_AUDIENCE = 1024

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
SCOPE_PATTERN = r"^[!#-\[\]-~]+$"
# RFC 6749 Appendix A: client ids, secrets and tokens are VSCHAR (%x20-7E) strings.
VSCHAR_PATTERN = r"^[ -~]+$"
_SCOPE_RE = re.compile(SCOPE_PATTERN)
_VSCHAR_RE = re.compile(VSCHAR_PATTERN)


class ClientAuth(StrEnum):
    """How the facade authenticates to the token endpoint (RFC 6749 §2.3.1)."""

    BASIC = "basic"  # HTTP Basic with the form-encoded client id and secret
    BODY = "body"  # client_id and client_secret form fields


class OAuth2Grant(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    REFRESH_TOKEN = "refresh_token"


def _check_token_url(value: str) -> str:
    """An absolute http(s) URL without user info or fragment (whether its host may be used is
    the deployment's policy: `vaultauth.oauth.token_url`)."""
    if not re.fullmatch(r"[!-~]+", value):
        raise ValueError("must be a URL of visible ASCII characters (no spaces)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("must be an absolute http or https URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password (use clientId/clientSecret)")
    if parts.fragment or value.endswith("#"):
        raise ValueError("must not have a fragment")
    return value


def _check_vschar(value: str) -> str:
    if not _VSCHAR_RE.fullmatch(value):
        raise ValueError("must be printable ASCII characters (RFC 6749 VSCHAR)")
    return value


def _check_secret_vschar(value: SecretStr) -> SecretStr:
    _check_vschar(value.get_secret_value())
    return value


def _check_scope(value: str) -> str:
    if not _SCOPE_RE.fullmatch(value):
        raise ValueError('must be an RFC 6749 scope token (printable ASCII, no space, \\ or ")')
    return value


TokenUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TOKEN_URL), AfterValidator(_check_token_url)
]
ClientId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CLIENT_ID), AfterValidator(_check_vschar)
]
ClientSecret = Annotated[
    SecretStr,
    Field(min_length=1, max_length=MAX_CLIENT_SECRET),
    AfterValidator(_check_secret_vschar),
]
RefreshToken = Annotated[
    SecretStr,
    Field(min_length=1, max_length=MAX_REFRESH_TOKEN),
    AfterValidator(_check_secret_vschar),
]
ScopeToken = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SCOPE), AfterValidator(_check_scope)
]
Audience = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_AUDIENCE), AfterValidator(_check_vschar)
]


@dataclass(frozen=True)
class OAuth2Settings:
    """The non-secret part of an OAuth 2.0 credential: what the index keeps and records show."""

    token_url: str
    client_id: str
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    client_auth: ClientAuth = ClientAuth.BASIC


class OAuth2Credential(_Strict):
    """What the facade needs to obtain access tokens: `grant` follows from the authType.

    Client credentials (RFC 6749 §4.4) need `clientSecret`; a refresh token grant (§6) needs
    `refreshToken` (`clientSecret` optional: a public client sends only its id). Fields of the
    other grant are ignored. Secrets are SecretStr; `repr()` never shows them."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", hide_input_in_errors=True, populate_by_name=True
    )

    grant: OAuth2Grant
    token_url: TokenUrl = Field(alias="tokenUrl")
    client_id: ClientId = Field(alias="clientId")
    client_secret: ClientSecret | None = Field(default=None, alias="clientSecret")
    refresh_token: RefreshToken | None = Field(default=None, alias="refreshToken")
    scopes: Annotated[tuple[ScopeToken, ...], Field(max_length=MAX_SCOPES)] = ()
    audience: Audience | None = None
    client_auth: Annotated[ClientAuth, BeforeValidator(_lower)] = Field(
        default=ClientAuth.BASIC, alias="clientAuth"
    )

    @model_validator(mode="after")
    def _grant_fields(self) -> OAuth2Credential:
        if self.grant is OAuth2Grant.CLIENT_CREDENTIALS:
            if self.client_secret is None:
                raise _missing("clientSecret")
            if self.refresh_token is not None:
                object.__setattr__(self, "refresh_token", None)  # not a field of this grant
        else:
            if self.refresh_token is None:
                raise _missing("refreshToken")
            if self.audience is not None:
                object.__setattr__(self, "audience", None)
        return self

    def public(self) -> OAuth2Settings:
        return OAuth2Settings(
            token_url=self.token_url,
            client_id=self.client_id,
            scopes=self.scopes,
            audience=self.audience,
            client_auth=self.client_auth,
        )

    def token_config_hash(self) -> str:
        """A digest of every field a token depends on (all but clientAuth): a token obtained
        under another digest is not this configuration's. Kept in Vault and memory only."""
        fields = [
            self.grant.value,
            self.token_url,
            self.client_id,
            self.client_secret.get_secret_value() if self.client_secret else None,
            self.refresh_token.get_secret_value() if self.refresh_token else None,
            list(self.scopes),
            self.audience,
        ]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


class _MissingOAuth2Field(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is required for this grant")
        self.name = name


def _missing(name: str) -> _MissingOAuth2Field:
    return _MissingOAuth2Field(name)


Credential = (
    NoAuthCredential | BasicCredential | BearerCredential | ApiKeyCredential | OAuth2Credential
)


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


# A date-time that is missing where required, or malformed, is one error (contract A1).
_DATETIME_FIELDS = frozenset({"before", "expiresAt", "rotateAfter"})


def error_code_for(kind: str, field: str) -> str:
    """Our stable error code for a pydantic error type at `field`."""
    if field == "authType" and kind != "missing":
        return "invalid_auth_type"
    if field in _DATETIME_FIELDS:
        return "invalid_datetime"
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
        AuthType.OAUTH2_CLIENT_CREDENTIALS: ("oauth2",),
        AuthType.OAUTH2_REFRESH_TOKEN: ("oauth2",),
    }[auth_type]


def grant_of(auth_type: AuthType) -> OAuth2Grant:
    if auth_type is AuthType.OAUTH2_CLIENT_CREDENTIALS:
        return OAuth2Grant.CLIENT_CREDENTIALS
    return OAuth2Grant.REFRESH_TOKEN


def _credential_prefix(auth_type: AuthType) -> str:
    """Where the credential's fields sit in a body, for error locations."""
    if auth_type is AuthType.API_KEY:
        return "apiKey"
    return "oauth2" if auth_type.is_oauth2 else ""


def parse_oauth2(auth_type: AuthType, fields: object) -> OAuth2Credential:
    """The `oauth2` object of a create body (or of a PATCH, once merged with the stored one)."""
    if not isinstance(fields, Mapping):
        raise InvalidInput("oauth2 must be an object", code="invalid_field", field="oauth2")
    try:
        return OAuth2Credential.model_validate({**fields, "grant": grant_of(auth_type)})
    except ValidationError as exc:
        raise _missing_oauth2_field_or(exc) from None


def _missing_oauth2_field_or(exc: ValidationError) -> InvalidInput:
    first = exc.errors(include_input=False, include_url=False)[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, _MissingOAuth2Field):
        return InvalidInput(
            f"oauth2.{cause.name} is required for this authType",
            code="missing_credential",
            field=f"oauth2.{cause.name}",
        )
    return invalid_input_from(exc, "oauth2")


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
            case AuthType.OAUTH2_CLIENT_CREDENTIALS | AuthType.OAUTH2_REFRESH_TOKEN:
                if "oauth2" not in relevant:
                    raise InvalidInput(
                        f"oauth2 is required for {auth_type.value}",
                        code="missing_credential",
                        field="oauth2",
                    )
                return parse_oauth2(auth_type, relevant["oauth2"])
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
        if isinstance(current, OAuth2Credential):
            return _patched_oauth2(auth_type, current, relevant["oauth2"])
    except ValidationError as exc:
        raise invalid_input_from(exc, _credential_prefix(auth_type)) from None
    return current


def _patched_oauth2(
    auth_type: AuthType, current: OAuth2Credential, given: object
) -> OAuth2Credential:
    """The contract's rule: the object replaces the stored one, omitted (or null) secrets are
    kept, omitted non-secret fields take their defaults."""
    if not isinstance(given, Mapping):
        raise InvalidInput("oauth2 must be an object", code="invalid_field", field="oauth2")
    merged = {k: v for k, v in given.items() if v is not None}
    for secret, stored in (
        ("clientSecret", current.client_secret),
        ("refreshToken", current.refresh_token),
    ):
        if secret not in merged and stored is not None:
            merged[secret] = stored.get_secret_value()
    return parse_oauth2(auth_type, merged)


def _missing_credential_or(exc: ValidationError, auth_type: AuthType) -> InvalidInput:
    error = invalid_input_from(exc, _credential_prefix(auth_type))
    if error.code == "missing_field":
        error.code = "missing_credential"
        error.message = f"{error.field} is required for {auth_type.value}"
    return error


def credential_header_name(credential: Credential) -> str | None:
    """The header the credential itself produces, if any."""
    if isinstance(credential, BasicCredential | BearerCredential | OAuth2Credential):
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


@dataclass(frozen=True, slots=True)
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
    oauth2: OAuth2Settings | None = None  # OAuth 2.0 types: the configuration, without secrets

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
    """The non-secret parts of a credential the index keeps (API key name and position, the
    OAuth 2.0 configuration)."""
    fields: dict[str, Any] = {"api_key_name": None, "api_key_position": None, "oauth2": None}
    if isinstance(credential, ApiKeyCredential):
        fields.update(api_key_name=credential.key, api_key_position=credential.position)
    elif isinstance(credential, OAuth2Credential):
        fields["oauth2"] = credential.public()
    return fields
