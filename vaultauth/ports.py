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


class SecretStore(Protocol):
    async def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        """Write a new version if the current one is `cas` (0: must not exist); return it.

        Raises Conflict when another version was written first."""

    async def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """The data of `version` (default latest), or None if missing or deleted."""

    async def destroy(self, path: str) -> None:
        """Remove every version and the metadata; a missing path is not an error."""

    async def version_info(self, path: str) -> SecretVersionInfo | None: ...

    def list_paths(self, folder: str) -> AsyncIterator[str]:
        """Every secret path below `folder`, recursively."""

    async def check_ready(self) -> None:
        """Raise VaultUnavailable unless Vault is reachable and unsealed."""


class MetadataIndex(Protocol):
    async def insert(self, record: AuthRecord) -> None: ...

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        """The visible record, or None (missing, other tenant, or being deleted)."""

    async def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page: ...

    async def update(self, record: AuthRecord, *, expected_version: int) -> bool:
        """Store `record` if the stored version is still `expected_version`."""

    async def mark_deleting(
        self, tenant: str, integration_id: str, auth_id: str
    ) -> AuthRecord | None:
        """Hide the record from reads; return it (also if already hidden) or None if absent."""

    async def remove(self, tenant: str, integration_id: str, auth_id: str) -> None: ...

    def all_records(self, tenant: str | None) -> AsyncIterator[tuple[AuthRecord, bool]]:
        """Every record with whether it is being deleted, for reconciliation."""

    async def check_ready(self) -> None:
        """Raise IndexUnavailable unless the index answers."""


class KeyIndex(Protocol):
    async def add_key(self, key: ApiKeyRecord) -> None: ...

    async def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, key_id: str, at: datetime) -> bool: ...
