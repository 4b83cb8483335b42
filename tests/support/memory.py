"""In-memory fakes of the ports (SecretStore, MetadataIndex), for pure-logic tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vaultauth.errors import Conflict, PreconditionFailed
from vaultauth.idempotency import in_progress, reused
from vaultauth.models import AuthRecord, Page
from vaultauth.ports import SecretMetadata, SecretVersionInfo, VersionState

RecordKey = tuple[str, str, str]


@dataclass
class _Version:
    data: dict[str, Any]
    created: datetime
    deleted: bool = False


@dataclass
class MemorySecretStore:
    """KV v2 semantics that matter here: versions, CAS, metadata, recursive listing."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    paths: dict[str, list[_Version]] = field(default_factory=dict)
    destroyed: list[str] = field(default_factory=list)
    max_versions: dict[str, int] = field(default_factory=dict)

    async def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        versions = self.paths.setdefault(path, [])
        if cas != len(versions):
            raise Conflict("check-and-set mismatch")
        versions.append(_Version(dict(data), self.clock()))
        return len(versions)

    async def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        versions = self.paths.get(path)
        if not versions:
            return None
        number = version if version is not None else len(versions)
        if not 1 <= number <= len(versions) or versions[number - 1].deleted:
            return None
        return dict(versions[number - 1].data)

    async def read_latest(self, path: str) -> tuple[dict[str, Any], int] | None:
        versions = self.paths.get(path)
        if not versions or versions[-1].deleted:
            return None
        return dict(versions[-1].data), len(versions)

    async def destroy(self, path: str) -> None:
        if self.paths.pop(path, None) is not None:
            self.destroyed.append(path)

    async def version_info(self, path: str) -> SecretVersionInfo | None:
        versions = self.paths.get(path)
        if not versions:
            return None
        return SecretVersionInfo(current_version=len(versions), updated_at=versions[-1].created)

    async def metadata(self, path: str) -> SecretMetadata | None:
        versions = self.paths.get(path)
        if not versions:
            return None
        return SecretMetadata(
            current_version=len(versions),
            oldest_version=1,
            versions=tuple(
                VersionState(number=n, created_at=v.created, available=not v.deleted)
                for n, v in enumerate(versions, start=1)
            ),
        )

    async def set_max_versions(self, path: str, max_versions: int) -> None:
        self.max_versions[path] = max_versions

    async def list_paths(self, folder: str) -> AsyncIterator[str]:
        for path in sorted(p for p in self.paths if p.startswith(f"{folder}/")):
            yield path

    async def check_ready(self) -> None:
        return None


@dataclass
class MemoryIndex:
    rows: dict[RecordKey, tuple[AuthRecord, bool]] = field(default_factory=dict)
    claims: dict[tuple[str, str, str], tuple[str, str | None]] = field(default_factory=dict)

    @staticmethod
    def _key(record: AuthRecord) -> RecordKey:
        return record.tenant, record.integration_id, record.auth_id

    async def insert(self, record: AuthRecord) -> None:
        if self._key(record) in self.rows:
            raise Conflict("the record already exists")
        self.rows[self._key(record)] = (record, False)

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        row = self.rows.get((tenant, integration_id, auth_id))
        return row[0] if row is not None and not row[1] else None

    async def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page:
        records = [
            r
            for (t, i, _), (r, deleting) in self.rows.items()
            if (t, i) == (tenant, integration_id)
        ]
        return Page(records=records[:limit], next_cursor=None)

    async def get_current(
        self, tenant: str, integration_id: str, auth_id: str
    ) -> AuthRecord | None:
        return await self.get(tenant, integration_id, auth_id)

    async def update(
        self,
        record: AuthRecord,
        *,
        expected_version: int,
        expected_revision: int | None = None,
        credential: bool = True,
        metadata: bool = False,
    ) -> int | None:
        row = self.rows.get(self._key(record))
        if row is None or row[1] or row[0].version != expected_version:
            return None
        stored = row[0]
        if expected_revision is not None and stored.revision != expected_revision:
            return None
        changes: dict[str, Any] = {"updated_at": record.updated_at}
        if credential:
            changes.update(
                auth_type=record.auth_type,
                headers=record.headers,
                api_key_name=record.api_key_name,
                api_key_position=record.api_key_position,
                version=record.version,
                allowed_hosts=record.allowed_hosts,
            )
        if metadata:
            changes.update(
                label=record.label, expires_at=record.expires_at, rotate_after=record.rotate_after
            )
        updated = stored.with_changes(revision=stored.revision + 1, **changes)
        self.rows[self._key(record)] = (updated, False)
        return updated.revision

    async def mark_deleting(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        *,
        expected_revision: int | None = None,
    ) -> AuthRecord | None:
        row = self.rows.get((tenant, integration_id, auth_id))
        if row is None:
            return None
        if expected_revision is not None and not row[1] and row[0].revision != expected_revision:
            raise PreconditionFailed("the record changed since the ETag you sent")
        self.rows[(tenant, integration_id, auth_id)] = (row[0], True)
        return row[0]

    async def remove(self, tenant: str, integration_id: str, auth_id: str) -> None:
        self.rows.pop((tenant, integration_id, auth_id), None)

    async def due_page(
        self, tenant: str, *, before: datetime, limit: int, cursor: str | None
    ) -> Page:
        due = [
            r
            for (t, _i, _a), (r, deleting) in self.rows.items()
            if t == tenant and not deleting and r.due_at is not None and r.due_at < before
        ]
        due.sort(key=lambda r: (r.due_at, r.integration_id, r.auth_id))
        return Page(records=due[:limit], next_cursor=None)

    async def claim_idempotency(
        self, tenant: str, integration_id: str, key: str, fingerprint: str, now: datetime
    ) -> str | None:
        claim = self.claims.get((tenant, integration_id, key))
        if claim is None:
            self.claims[(tenant, integration_id, key)] = (fingerprint, None)
            return None
        if claim[0] != fingerprint:
            raise reused()
        if claim[1] is None:
            raise in_progress()
        return claim[1]

    async def insert_claimed(self, record: AuthRecord, key: str) -> None:
        await self.insert(record)
        claim_key = (record.tenant, record.integration_id, key)
        self.claims[claim_key] = (self.claims[claim_key][0], record.auth_id)

    async def release_idempotency(self, tenant: str, integration_id: str, key: str) -> None:
        claim = self.claims.get((tenant, integration_id, key))
        if claim is not None and claim[1] is None:
            del self.claims[(tenant, integration_id, key)]

    async def count_past(self, column: str, moment: datetime, cap: int) -> int:
        values = [getattr(r, column) for r, deleting in self.rows.values() if not deleting]
        return min(cap, sum(1 for v in values if v is not None and v < moment))

    async def all_records(self, tenant: str | None) -> AsyncIterator[tuple[AuthRecord, bool]]:
        for key in sorted(self.rows):
            if tenant is None or key[0] == tenant:
                yield self.rows[key]

    async def check_ready(self) -> None:
        return None
