"""The storage the service depends on, as Protocols; `store/` and `index/` implement them."""

from __future__ import annotations

from collections.abc import Iterator
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
    def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        """Write a new version if the current one is `cas` (0: must not exist); return it.

        Raises Conflict when another version was written first."""

    def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """The data of `version` (default latest), or None if missing or deleted."""

    def destroy(self, path: str) -> None:
        """Remove every version and the metadata; a missing path is not an error."""

    def version_info(self, path: str) -> SecretVersionInfo | None: ...

    def list_paths(self, folder: str) -> Iterator[str]:
        """Every secret path below `folder`, recursively."""

    def check_ready(self) -> None:
        """Raise VaultUnavailable unless Vault is reachable and unsealed."""


class MetadataIndex(Protocol):
    def insert(self, record: AuthRecord) -> None: ...

    def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        """The visible record, or None (missing, other tenant, or being deleted)."""

    def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page: ...

    def update(self, record: AuthRecord, *, expected_version: int) -> bool:
        """Store `record` if the stored version is still `expected_version`."""

    def mark_deleting(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        """Hide the record from reads; return it (also if already hidden) or None if absent."""

    def remove(self, tenant: str, integration_id: str, auth_id: str) -> None: ...

    def all_records(self, tenant: str | None) -> Iterator[tuple[AuthRecord, bool]]:
        """Every record with whether it is being deleted, for reconciliation."""

    def check_ready(self) -> None:
        """Raise IndexUnavailable unless the index answers."""


class KeyIndex(Protocol):
    def add_key(self, key: ApiKeyRecord) -> None: ...

    def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]: ...

    def revoke_key(self, key_id: str, at: datetime) -> bool: ...
