"""Idempotent create: the rules of an Idempotency-Key, and the keyed hash of a create body.

A repeat of a create with the same key (same tenant and integration) and an equivalent body -
the same JSON value, whatever the key order or whitespace - gets the record the first one made,
and writes nothing. The index keeps, per key, a fingerprint of the body: an HMAC, never the body
(bodies hold secrets), under a key that every replica shares and that survives restarts without
living in the index: VAULTAUTH_IDEMPOTENCY_HMAC_KEY, or else a random key kept in Vault under
the prefix (`<prefix>/_vaultauth/idempotency`), made once by whichever replica needs it first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
from datetime import timedelta

from vaultauth.errors import Conflict, CorruptSecret, InvalidInput
from vaultauth.ports import SecretStore

KEEP_FOR = timedelta(hours=24)
# A claim still pending this long after it was made belongs to a create that died: taken over.
ABANDONED_AFTER = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
SYSTEM_FOLDER = "_vaultauth"


def check_idempotency_key(value: str) -> str:
    """1-255 printable ASCII characters (no control characters); else 422."""
    if not _KEY.fullmatch(value):
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    return value


def canonical_json(value: object) -> bytes:
    """The JSON value with sorted keys and no insignificant whitespace: equal values, equal
    bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def reused() -> InvalidInput:
    return InvalidInput(
        "this Idempotency-Key was used with another body",
        code="idempotency_key_reused",
        field="Idempotency-Key",
    )


def in_progress() -> Conflict:
    return Conflict(
        "a create with this Idempotency-Key is still running; retry shortly",
        code="idempotency_in_progress",
    )


class Fingerprinter:
    """HMAC-SHA256 of canonical bodies, under a configured key or one kept in Vault."""

    def __init__(self, secrets_store: SecretStore, prefix: str, key: bytes | None = None) -> None:
        self._secrets = secrets_store
        self._path = f"{prefix}/{SYSTEM_FOLDER}/idempotency"
        self._key = key
        self._lock = asyncio.Lock()

    async def fingerprint(self, canonical: bytes) -> str:
        key = self._key or await self._key_from_vault()
        return hmac.new(key, canonical, hashlib.sha256).hexdigest()

    async def _key_from_vault(self) -> bytes:
        async with self._lock:
            if self._key is None:
                self._key = await self._read_or_make()
            return self._key

    async def _read_or_make(self) -> bytes:
        stored = await self._secrets.read(self._path)
        if stored is None:
            made = base64.b64encode(secrets.token_bytes(32)).decode()
            try:
                await self._secrets.write(self._path, {"hmacKey": made}, cas=0)
            except Conflict:
                pass  # another replica made it first: use theirs
            stored = await self._secrets.read(self._path)
        try:
            return base64.b64decode(str((stored or {})["hmacKey"]), validate=True)
        except (KeyError, ValueError):
            raise CorruptSecret("the idempotency key kept in Vault is malformed") from None
