"""The domain error tree; transports (HTTP, CLI) translate it at their edge.

    VaultauthError
    ├── InvalidInput          bad ids, bodies or fields (carries a stable `code` and a `field`)
    ├── NotAuthenticated      no or unknown API key
    ├── NotPermitted          the key lacks the scope for the call
    ├── RateLimited           too many failed authentications from one address (`retry_after`)
    ├── NotFound              no such record (also: it belongs to another tenant)
    ├── Conflict              a concurrent change won (check-and-set)
    ├── PreconditionFailed    If-Match named another revision of the record
    ├── CorruptSecret         Vault holds a secret document this service cannot read
    ├── TokenEndpointFailed   an OAuth 2.0 token endpoint refused, failed or timed out
    │   └── RefreshRejected   it refused the stored refresh token (invalid_grant)
    └── Unavailable           a backing service cannot serve now; retry later
        ├── VaultUnavailable  unreachable, sealed, timing out, or refusing the facade's token
        ├── IndexUnavailable  the metadata index cannot be reached
        └── TokenPending      another facade is obtaining the access token and has not finished

Messages are written by us and never contain a submitted value or a secret: never build one
from a third-party exception's text (hvac's carry Vault's URL and response body).
"""

from __future__ import annotations


class VaultauthError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(VaultauthError):
    code = "invalid_input"


class NotAuthenticated(VaultauthError):
    code = "unauthenticated"


class NotPermitted(VaultauthError):
    code = "forbidden"


class RateLimited(VaultauthError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(VaultauthError):
    code = "not_found"


class Conflict(VaultauthError):
    code = "conflict"


class PreconditionFailed(VaultauthError):
    code = "precondition_failed"


class CorruptSecret(VaultauthError):
    code = "malformed_secret_document"


class TokenEndpointFailed(VaultauthError):
    """502: the message says what went wrong in our words, never the endpoint's body (which can
    echo secrets). `retry_after`: seconds before the next token request is allowed."""

    code = "oauth_token_failed"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RefreshRejected(TokenEndpointFailed):
    code = "oauth_refresh_rejected"


class Unavailable(VaultauthError):
    code = "unavailable"


class VaultUnavailable(Unavailable):
    code = "vault_unavailable"


class IndexUnavailable(Unavailable):
    code = "index_unavailable"


class TokenPending(Unavailable):
    code = "oauth_token_pending"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
