"""The async index ports over the blocking SqlMetadataIndex: each query runs in a worker thread.

The thread pool is anyio's default limiter, which the app sizes to VAULTAUTH_WORKER_THREADS
(and the SQL pool to match), so a burst of queries queues for a thread rather than for a
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from anyio import to_thread

from vaultauth.index.sql import SqlMetadataIndex
from vaultauth.keys import ApiKeyRecord
from vaultauth.models import AuthRecord, Page


class ThreadedIndex:
    """MetadataIndex and KeyIndex (async) on an SqlMetadataIndex."""

    def __init__(self, index: SqlMetadataIndex) -> None:
        self.sql = index

    async def insert(self, record: AuthRecord) -> None:
        await to_thread.run_sync(self.sql.insert, record)

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        return await to_thread.run_sync(self.sql.get, tenant, integration_id, auth_id)

    async def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page:
        return await to_thread.run_sync(
            lambda: self.sql.list_page(tenant, integration_id, limit=limit, cursor=cursor)
        )

    async def update(self, record: AuthRecord, *, expected_version: int) -> bool:
        return await to_thread.run_sync(
            lambda: self.sql.update(record, expected_version=expected_version)
        )

    async def mark_deleting(
        self, tenant: str, integration_id: str, auth_id: str
    ) -> AuthRecord | None:
        return await to_thread.run_sync(self.sql.mark_deleting, tenant, integration_id, auth_id)

    async def remove(self, tenant: str, integration_id: str, auth_id: str) -> None:
        await to_thread.run_sync(self.sql.remove, tenant, integration_id, auth_id)

    async def all_records(self, tenant: str | None) -> AsyncIterator[tuple[AuthRecord, bool]]:
        for entry in await to_thread.run_sync(lambda: list(self.sql.all_records(tenant))):
            yield entry

    async def check_ready(self) -> None:
        await to_thread.run_sync(self.sql.check_ready)

    async def add_key(self, key: ApiKeyRecord) -> None:
        await to_thread.run_sync(self.sql.add_key, key)

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        return await to_thread.run_sync(self.sql.find_key, key_id)

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        return await to_thread.run_sync(self.sql.list_keys, tenant)

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        return await to_thread.run_sync(self.sql.revoke_key, key_id, at)
