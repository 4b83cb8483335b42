"""The async index ports over the blocking SqlMetadataIndex, never blocking the event loop.

Queries run in worker threads (anyio's default limiter, which the app sizes to
VAULTAUTH_WORKER_THREADS, and the SQL pool to match). On SQLite the hot ones (get, insert,
update, find_key, a list page) first try the event loop's own connection, which never waits (see
loop_sqlite.py): cheaper than a thread hop; a busy database sends them to a thread after all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from anyio import to_thread

from vaultauth.index.driver import DriverQueries
from vaultauth.index.loop_sqlite import Busy, LoopSqliteQueries
from vaultauth.index.sql import SqlMetadataIndex
from vaultauth.keys import ApiKeyRecord
from vaultauth.models import AuthRecord, Page


class AsyncSqlIndex:
    """MetadataIndex and KeyIndex (async) on an SqlMetadataIndex."""

    def __init__(self, index: SqlMetadataIndex, *, loop_queries: bool = True) -> None:
        """With `loop_queries` (and SQLite), hot queries try the event loop's connection first;
        without, every query runs in a worker thread (one-shot commands)."""
        self.sql = index
        self._on_loop = (
            LoopSqliteQueries(index.engine, index.driver.write_lock)
            if loop_queries and _sqlite_file(index)
            else None
        )

    def close(self) -> None:
        if self._on_loop is not None:
            self._on_loop.close()

    async def insert(self, record: AuthRecord) -> None:
        if self._on_loop is not None:
            try:
                return self._on_loop.insert(record)
            except Busy:
                pass
        await to_thread.run_sync(self.sql.insert, record)

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        if self._on_loop is not None:
            try:
                return self._on_loop.get(tenant, integration_id, auth_id)
            except Busy:
                pass
        return await to_thread.run_sync(self.sql.get, tenant, integration_id, auth_id)

    async def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page:
        if self._on_loop is not None:
            # A page is CPU work under the GIL either way; in a thread it also fights the
            # event loop for the GIL at every row SQLite steps (3-5x the CPU, measured).
            try:
                return self.sql.list_page(
                    tenant, integration_id, limit=limit, cursor=cursor, queries=self._on_loop
                )
            except Busy:
                pass
        return await to_thread.run_sync(
            lambda: self.sql.list_page(tenant, integration_id, limit=limit, cursor=cursor)
        )

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
        def run(queries: DriverQueries) -> int | None:
            return queries.update(
                record,
                expected_version=expected_version,
                expected_revision=expected_revision,
                credential=credential,
                metadata=metadata,
            )

        if self._on_loop is not None:
            try:
                return run(self._on_loop)
            except Busy:
                pass
        return await to_thread.run_sync(run, self.sql.driver)

    async def due_page(
        self, tenant: str, *, before: datetime, limit: int, cursor: str | None
    ) -> Page:
        return await to_thread.run_sync(
            lambda: self.sql.due_page(tenant, before=before, limit=limit, cursor=cursor)
        )

    async def claim_idempotency(
        self, tenant: str, integration_id: str, key: str, fingerprint: str, now: datetime
    ) -> str | None:
        return await to_thread.run_sync(
            self.sql.claim_idempotency, tenant, integration_id, key, fingerprint, now
        )

    async def insert_claimed(self, record: AuthRecord, key: str) -> None:
        await to_thread.run_sync(self.sql.insert_claimed, record, key)

    async def release_idempotency(self, tenant: str, integration_id: str, key: str) -> None:
        await to_thread.run_sync(self.sql.release_idempotency, tenant, integration_id, key)

    async def count_past(self, column: str, moment: datetime, cap: int) -> int:
        return await to_thread.run_sync(self.sql.count_past, column, moment, cap)

    async def mark_deleting(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        *,
        expected_revision: int | None = None,
    ) -> AuthRecord | None:
        return await to_thread.run_sync(
            lambda: self.sql.mark_deleting(
                tenant, integration_id, auth_id, expected_revision=expected_revision
            )
        )

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
        if self._on_loop is not None:
            try:
                return self._on_loop.find_key(key_id)
            except Busy:
                pass
        return await to_thread.run_sync(self.sql.find_key, key_id)

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        return await to_thread.run_sync(self.sql.list_keys, tenant)

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        return await to_thread.run_sync(self.sql.revoke_key, key_id, at)


def _sqlite_file(index: SqlMetadataIndex) -> bool:
    database = index.engine.url.database
    return index.engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"
