"""The secret document kept in Vault: enough on its own to build the outbound credential.

Services that read Vault directly (see `vaultauth.client.vault`) use nothing else, so the
document carries the non-secret parts too (authType, API key name and position, headers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from vaultauth.errors import CorruptSecret, InvalidInput
from vaultauth.models import (
    ApiKeyCredential,
    AuthType,
    BasicCredential,
    BearerCredential,
    Credential,
    Header,
    NoAuthCredential,
    OAuth2Credential,
    grant_of,
    parse_allowed_hosts,
)

DOCUMENT_FORMAT = "1"


@dataclass(frozen=True)
class SecretDocument:
    """What Vault keeps for one version of a record. Headers carry their values, secret ones
    included (marked `"secret": true`); `allowedHosts` is here too, so that a service reading
    Vault directly enforces it as the facade's clients do."""

    auth_type: AuthType
    credential: Credential
    headers: tuple[Header, ...]
    allowed_hosts: tuple[str, ...] | None = None

    def to_vault(self) -> dict[str, Any]:
        """The KV v2 `data` object; the one place secrets are revealed for storage."""
        document: dict[str, Any] = {
            "format": DOCUMENT_FORMAT,
            "authType": self.auth_type.value,
            "headers": [_header_to_vault(h) for h in self.headers],
        }
        if self.allowed_hosts is not None:
            document["allowedHosts"] = list(self.allowed_hosts)
        credential = self.credential
        if isinstance(credential, BasicCredential):
            document["username"] = credential.username
            document["password"] = credential.password.get_secret_value()
        elif isinstance(credential, BearerCredential):
            document["token"] = credential.token.get_secret_value()
        elif isinstance(credential, ApiKeyCredential):
            document["apiKey"] = {
                "key": credential.key,
                "value": credential.value.get_secret_value(),
                "position": credential.position.value,
            }
        elif isinstance(credential, OAuth2Credential):
            document["oauth2"] = _oauth2_to_vault(credential)
        return document

    @classmethod
    def from_vault(cls, data: dict[str, Any]) -> SecretDocument:
        """Parse a KV `data` object; raises CorruptSecret (without values) when malformed."""
        try:
            auth_type = AuthType.parse(data.get("authType"))
            raw_headers = data.get("headers") or []
            if not isinstance(raw_headers, list):
                raise CorruptSecret("the secret document in Vault is malformed")
            headers = tuple(Header.model_validate(h) for h in raw_headers)
            if any(h.value is None for h in headers):
                raise CorruptSecret("the secret document in Vault is malformed")
            allowed_hosts = _allowed_hosts_from(data.get("allowedHosts"))
            credential: Credential
            match auth_type:
                case AuthType.NO_AUTH:
                    credential = NoAuthCredential()
                case AuthType.BASIC_AUTH:
                    credential = BasicCredential.model_validate(data)
                case AuthType.BEARER_TOKEN:
                    credential = BearerCredential.model_validate(data)
                case AuthType.API_KEY:
                    credential = ApiKeyCredential.model_validate(data.get("apiKey"))
                case AuthType.OAUTH2_CLIENT_CREDENTIALS | AuthType.OAUTH2_REFRESH_TOKEN:
                    stored = data.get("oauth2")
                    if not isinstance(stored, dict):
                        raise CorruptSecret("the secret document in Vault is malformed")
                    credential = OAuth2Credential.model_validate(
                        {**stored, "grant": grant_of(auth_type)}
                    )
        except (ValidationError, InvalidInput):
            raise CorruptSecret("the secret document in Vault is malformed") from None
        return cls(
            auth_type=auth_type,
            credential=credential,
            headers=headers,
            allowed_hosts=allowed_hosts,
        )


def _oauth2_to_vault(credential: OAuth2Credential) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "tokenUrl": credential.token_url,
        "clientId": credential.client_id,
        "scopes": list(credential.scopes),
        "clientAuth": credential.client_auth.value,
    }
    if credential.client_secret is not None:
        stored["clientSecret"] = credential.client_secret.get_secret_value()
    if credential.refresh_token is not None:
        stored["refreshToken"] = credential.refresh_token.get_secret_value()
    if credential.audience is not None:
        stored["audience"] = credential.audience
    return stored


def _header_to_vault(header: Header) -> dict[str, Any]:
    stored: dict[str, Any] = {"key": header.key, "value": header.value}
    if header.secret:
        stored["secret"] = True
    return stored


def _allowed_hosts_from(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return parse_allowed_hosts(value)
    except InvalidInput:
        raise CorruptSecret("the secret document in Vault is malformed") from None
