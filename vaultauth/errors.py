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
    └── Unavailable           a backing service cannot serve now; retry later
        ├── VaultUnavailable  unreachable, sealed, timing out, or refusing the facade's token
        └── IndexUnavailable  the metadata index cannot be reached

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


class Unavailable(VaultauthError):
    code = "unavailable"


class VaultUnavailable(Unavailable):
    code = "vault_unavailable"


class IndexUnavailable(Unavailable):
    code = "index_unavailable"
