"""The client library's exceptions, one tree whatever the source (facade or Vault).

    ClientError                 base; `.source` is "facade" or "vault", `.status` the HTTP status
    ├── AccessDenied            401/403: the API key is missing, unknown or lacks
    │                           `credentials:read`, or Vault refused the token
    ├── CredentialNotFound      404: no such record (also: it belongs to another tenant)
    ├── ServiceUnavailable      unreachable, timed out, 429 or 5xx; `.retry_after` when given
    ├── InvalidRequest          400/422: the facade refused the request (`.code`, `.field`)
    ├── Conflict                409: a concurrent change won; read again and retry
    ├── PreconditionFailed      412: If-Match named another revision of the record
    ├── UnexpectedResponse      any other answer, or one that does not parse
    ├── FacadeOnly              the record is a managed OAuth 2.0 credential: only the facade
    │                           can resolve it (VaultResolver refuses it; nothing was sent)
    └── CredentialWithheld      the client would not put the credential on a request (source
        │                       "client"; nothing was sent)
        ├── DestinationNotAllowed   the request goes to a host outside the record's allowedHosts
        ├── RedirectRefused         a redirect leads to another origin while carrying it
        └── ForbiddenHeader         the record names a header that controls the connection

Messages are ours, built from the status and the facade's error code and message (which never
repeat a submitted value). No exception holds a credential, an API key or a Vault token, and
none chains the httpx exception (whose request carries them).
"""

from __future__ import annotations

from typing import Literal

Source = Literal["facade", "vault", "client"]


class ClientError(Exception):
    """Base of every error the client library raises."""

    def __init__(
        self,
        message: str,
        *,
        source: Source,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.status = status
        self.code = code


class AccessDenied(ClientError):
    """The facade refused the API key (401/403), or Vault refused the token (403)."""


class CredentialNotFound(ClientError):
    """No such auth record, or one of another tenant (404)."""


class ServiceUnavailable(ClientError):
    """The facade or Vault cannot answer now; retry after `retry_after` seconds if set."""

    def __init__(
        self,
        message: str,
        *,
        source: Source,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, source=source, status=status, code=code)
        self.retry_after = retry_after


class InvalidRequest(ClientError):
    """The facade refused the request as invalid (400/422); `.code` says why."""


class Conflict(ClientError):
    """A concurrent change won (409): read the record again and retry."""


class PreconditionFailed(ClientError):
    """The record changed since the ETag sent in If-Match (412)."""


class UnexpectedResponse(ClientError):
    """An answer the client does not understand (another status, or a malformed body)."""


class FacadeOnly(ClientError):
    """A managed OAuth 2.0 record read straight from Vault: its access token is obtained and
    refreshed by the facade (one request per expiry across replicas, rotated refresh tokens
    stored first), which a reader of Vault cannot do safely. Resolve it through the facade."""


class CredentialWithheld(ClientError):
    """The client library refused to put the credential on a request; nothing was sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, source="client")


class DestinationNotAllowed(CredentialWithheld):
    """The request's host is not in the record's `allowedHosts`."""


class RedirectRefused(CredentialWithheld):
    """A redirect leads to another origin (scheme, host, port) and would carry the credential."""


class ForbiddenHeader(CredentialWithheld):
    """The credential names a header that controls the connection or the request's framing."""
