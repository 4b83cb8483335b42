"""The storage the service depends on, as Protocols; `store/` and `index/` implement them.

Every method is a coroutine: the adapters decide how to keep the event loop free (the Vault
adapter is asyncio-native; the SQL index runs its queries in worker threads; the caching index
answers from memory without awaiting anything)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from vaultauth.keys import ApiKeyRecord
from vaultauth.models import AuthRecord, Page


@dataclass(frozen=True)
class SecretVersionInfo:
    """KV metadata of one secret path, for reconciliation."""

    current_version: int
    updated_at: datetime


@dataclass(frozen=True)
class VersionState:
    """One KV version: when it was written, and whether it can still be read."""

    number: int
    created_at: datetime
    available: bool  # False once deleted or destroyed


@dataclass(frozen=True)
class SecretMetadata:
    """The KV metadata of one secret path (numbers and dates only, never a value)."""

    current_version: int
    oldest_version: int
    versions: tuple[VersionState, ...]  # the ones Vault still lists, any order


class SecretStore(Protocol):
    async def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        """Write a new version if the current one is `cas` (0: must not exist); return it.

        Raises Conflict when another version was written first."""

    async def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """The data of `version` (default latest), or None if missing or deleted."""

    async def read_latest(self, path: str) -> tuple[dict[str, Any], int] | None:
        """The newest version's data and number (for a check-and-set on it), or None."""

    async def destroy(self, path: str) -> None:
        """Remove every version and the metadata; a missing path is not an error."""

    async def version_info(self, path: str) -> SecretVersionInfo | None: ...

    async def metadata(self, path: str) -> SecretMetadata | None:
        """Every version Vault keeps for `path`, or None if the path does not exist."""

    async def set_max_versions(self, path: str, max_versions: int) -> None:
        """Keep at most `max_versions` versions of `path` (changes nothing else)."""

    def list_paths(self, folder: str) -> AsyncIterator[str]:
        """Every secret path below `folder`, recursively."""

    async def check_ready(self) -> None:
        """Raise VaultUnavailable unless Vault is reachable and unsealed."""


class MetadataIndex(Protocol):
    async def insert(self, record: AuthRecord) -> None: ...

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        """The visible record, or None (missing, other tenant, or being deleted); it may come
        from a cache that lags other processes' changes by the staleness bound."""

    async def get_current(
        self, tenant: str, integration_id: str, auth_id: str
    ) -> AuthRecord | None:
        """As `get`, but as the index holds it now (never from a cache): for writes."""

    async def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page: ...

    async def update(
        self,
        record: AuthRecord,
        *,
        expected_version: int,
        expected_revision: int | None = None,
        credential: bool = True,
        metadata: bool = False,
    ) -> int | None:
        """Store `record`'s credential columns (those that follow the Vault document) and/or
        its metadata columns (label, expiresAt, rotateAfter) if the row is still at
        `expected_version` (and `expected_revision`): its new revision, or None."""

    async def mark_deleting(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        *,
        expected_revision: int | None = None,
    ) -> AuthRecord | None:
        """Hide the record from reads; return it (also if already hidden) or None if absent.
        With `expected_revision`, raise PreconditionFailed if the record is at another one."""

    async def remove(self, tenant: str, integration_id: str, auth_id: str) -> None: ...

    async def due_page(
        self, tenant: str, *, before: datetime, limit: int, cursor: str | None
    ) -> Page:
        """`tenant`'s records whose expiry or rotation date is before `before`, earliest first."""

    async def count_past(self, column: str, moment: datetime, cap: int) -> int:
        """Records whose `expires_at` or `rotate_after` is before `moment`, counted up to `cap`."""

    async def claim_idempotency(
        self, tenant: str, integration_id: str, key: str, fingerprint: str, now: datetime
    ) -> str | None:
        """None: create (the key is newly, or again, yours); else the authId it created.
        Raises InvalidInput (the key was used with another body) or Conflict (in progress)."""

    async def insert_claimed(self, record: AuthRecord, key: str) -> None:
        """Insert `record` and mark the claimed `key` done with it, in one transaction."""

    async def release_idempotency(self, tenant: str, integration_id: str, key: str) -> None:
        """Forget a claim whose create failed."""

    def all_records(self, tenant: str | None) -> AsyncIterator[tuple[AuthRecord, bool]]:
        """Every record with whether it is being deleted, for reconciliation."""

    async def check_ready(self) -> None:
        """Raise IndexUnavailable unless the index answers."""


class KeyIndex(Protocol):
    async def add_key(self, key: ApiKeyRecord) -> None: ...

    async def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, key_id: str, at: datetime) -> bool: ...
