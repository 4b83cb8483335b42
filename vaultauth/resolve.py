"""Pure: turn a secret document into the headers and query parameters to send."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from vaultauth.document import SecretDocument
from vaultauth.errors import VaultauthError
from vaultauth.models import (
    ApiKeyCredential,
    ApiKeyPosition,
    BasicCredential,
    BearerCredential,
    OAuth2Credential,
)


@dataclass(frozen=True)
class AccessToken:
    """An OAuth 2.0 access token the facade obtained, and when it stops working."""

    value: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """What to put on an outbound request, and where it may go. `repr()` hides the values."""

    headers: dict[str, str] = field(repr=False)
    query: dict[str, str] = field(repr=False)
    allowed_hosts: tuple[str, ...] | None = None
    expires_at: datetime | None = None  # OAuth 2.0 types: the access token's expiry

    def __repr__(self) -> str:
        return (
            f"ResolvedCredential(headers={sorted(self.headers)!r}, query={sorted(self.query)!r}, "
            f"allowed_hosts={self.allowed_hosts!r}, expires_at={self.expires_at!r})"
        )

    __str__ = __repr__


def resolve(document: SecretDocument, token: AccessToken | None = None) -> ResolvedCredential:
    """Static headers first, then the credential's own header or query parameter. An OAuth 2.0
    credential needs the access token the facade obtained for it (`token`)."""
    headers = {h.key: h.value for h in document.headers if h.value is not None}
    query: dict[str, str] = {}
    credential = document.credential
    if isinstance(credential, OAuth2Credential):
        if token is None:
            raise VaultauthError("an OAuth 2.0 credential resolves only with its access token")
        headers["Authorization"] = f"Bearer {token.value}"
        return ResolvedCredential(
            headers=headers,
            query=query,
            allowed_hosts=document.allowed_hosts,
            expires_at=token.expires_at,
        )
    if isinstance(credential, BearerCredential):
        headers["Authorization"] = f"Bearer {credential.token.get_secret_value()}"
    elif isinstance(credential, BasicCredential):
        pair = f"{credential.username}:{credential.password.get_secret_value()}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    elif isinstance(credential, ApiKeyCredential):
        target = headers if credential.position is ApiKeyPosition.HEADER else query
        target[credential.key] = credential.value.get_secret_value()
    return ResolvedCredential(headers=headers, query=query, allowed_hosts=document.allowed_hosts)
