"""API keys: tenant, scopes, and a hash of the secret part; checked in constant time.

A key reads `vak_<keyId>_<secret>`. Only SHA-256 of the secret is stored: the secret is 256
random bits, so a slow password hash would add latency without adding safety.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vaultauth.errors import InvalidInput, NotAuthenticated, NotPermitted

KEY_PREFIX = "vak_"
_BASE62 = string.ascii_letters + string.digits
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class Scope(StrEnum):
    AUTH_READ = "auth:read"
    AUTH_WRITE = "auth:write"
    CREDENTIALS_READ = "credentials:read"

    @classmethod
    def parse(cls, value: str) -> Scope:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise InvalidInput(
                f"unknown scope; choose from {choices}", code="invalid_scope"
            ) from None


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    tenant: str
    scopes: frozenset[Scope]
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant whose records they see, and what they may do."""

    key_id: str
    tenant: str
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise NotPermitted(f"this API key lacks the scope {scope.value}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> tuple[str, str, str]:
    """A new (key_id, plaintext key, secret hash)."""
    key_id = "".join(secrets.choice(_BASE62) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", hash_secret(secret)


def split_key(plaintext: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = plaintext[len(KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != 12 or not (key_id.isascii() and key_id.isalnum()) or not secret:
        return None
    return key_id, secret


def verify(plaintext: str | None, stored: ApiKeyRecord | None) -> Principal:
    """The principal of a valid, unrevoked key; NotAuthenticated otherwise (same message)."""
    parts = split_key(plaintext) if plaintext else None
    secret = parts[1] if parts else ""
    expected = stored.secret_hash if stored is not None else _DUMMY_HASH
    matches = hmac.compare_digest(hash_secret(secret), expected)
    if parts is None or stored is None or not matches or stored.revoked_at is not None:
        raise NotAuthenticated("a valid X-API-Key header is required")
    return Principal(key_id=stored.key_id, tenant=stored.tenant, scopes=stored.scopes)
