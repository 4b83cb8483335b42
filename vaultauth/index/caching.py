"""The index as the hot path sees it: records and API keys answered from memory when possible.

A cached answer costs no query and no thread hop. The caches are `FeedCache`s: the index's
change feed invalidates an entry whenever any process changes its row, and they answer only
while the feed is fresh, so a cached answer is never staler than the feed's bound. This
process's own writes also invalidate at once (read-your-writes within a process).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from vaultauth.feed_cache import FeedCache
from vaultauth.index.feed import KEY, RECORD
from vaultauth.keys import ApiKeyRecord
from vaultauth.models import AuthRecord, Page
from vaultauth.ports import KeyIndex, MetadataIndex

RecordKey = tuple[str, str, str]


class CachingIndex:
    """MetadataIndex and KeyIndex over `inner`, with `records` and `keys` caches in front.

    It is also the change feed's listener (`changed`, `reset`)."""

    def __init__(
        self,
        inner: MetadataIndex,
        keys_inner: KeyIndex,
        *,
        records: FeedCache[RecordKey, AuthRecord],
        keys: FeedCache[str, ApiKeyRecord],
        unknown_keys: FeedCache[str, bool],
    ) -> None:
        """`unknown_keys` remembers key ids the index does not know, so that an unknown id
        costs what a known one with a wrong secret costs (no index query): a timing side
        channel would otherwise tell which ids exist."""
        self._inner = inner
        self._keys_inner = keys_inner
        self.records = records
        self.keys = keys
        self.unknown_keys = unknown_keys

    # --- the change feed's listener ----------------------------------------------------------

    def changed(self, subject: str) -> None:
        if subject.startswith(RECORD):
            parts = subject[len(RECORD) :].split("/")
            if len(parts) == 3:
                self.records.invalidate((parts[0], parts[1], parts[2]))
                return
        elif subject.startswith(KEY):
            self.keys.invalidate(subject[len(KEY) :])
            self.unknown_keys.invalidate(subject[len(KEY) :])
            return
        self.reset()  # a subject we cannot read: be safe

    def reset(self) -> None:
        self.records.clear()
        self.keys.clear()
        self.unknown_keys.clear()

    # --- records -------------------------------------------------------------------------------

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        key = (tenant, integration_id, auth_id)
        cached = self.records.get(key)
        if cached is not None:
            return cached
        ticket = self.records.ticket()
        record = await self._inner.get(tenant, integration_id, auth_id)
        if record is not None:
            self.records.put(key, record, ticket)
        return record

    async def get_current(
        self, tenant: str, integration_id: str, auth_id: str
    ) -> AuthRecord | None:
        return await self._inner.get_current(tenant, integration_id, auth_id)

    async def insert(self, record: AuthRecord) -> None:
        await self._inner.insert(record)

    async def list_page(
        self, tenant: str, integration_id: str, *, limit: int, cursor: str | None
    ) -> Page:
        return await self._inner.list_page(tenant, integration_id, limit=limit, cursor=cursor)

    async def update(
        self,
        record: AuthRecord,
        *,
        expected_version: int,
        expected_revision: int | None = None,
        credential: bool = True,
        metadata: bool = False,
    ) -> int | None:
        try:
            return await self._inner.update(
                record,
                expected_version=expected_version,
                expected_revision=expected_revision,
                credential=credential,
                metadata=metadata,
            )
        finally:
            self.records.invalidate(_key_of(record))

    async def mark_deleting(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        *,
        expected_revision: int | None = None,
    ) -> AuthRecord | None:
        try:
            return await self._inner.mark_deleting(
                tenant, integration_id, auth_id, expected_revision=expected_revision
            )
        finally:
            self.records.invalidate((tenant, integration_id, auth_id))

    async def remove(self, tenant: str, integration_id: str, auth_id: str) -> None:
        try:
            await self._inner.remove(tenant, integration_id, auth_id)
        finally:
            self.records.invalidate((tenant, integration_id, auth_id))

    async def due_page(
        self, tenant: str, *, before: datetime, limit: int, cursor: str | None
    ) -> Page:
        return await self._inner.due_page(tenant, before=before, limit=limit, cursor=cursor)

    async def claim_idempotency(
        self, tenant: str, integration_id: str, key: str, fingerprint: str, now: datetime
    ) -> str | None:
        return await self._inner.claim_idempotency(tenant, integration_id, key, fingerprint, now)

    async def insert_claimed(self, record: AuthRecord, key: str) -> None:
        await self._inner.insert_claimed(record, key)

    async def release_idempotency(self, tenant: str, integration_id: str, key: str) -> None:
        await self._inner.release_idempotency(tenant, integration_id, key)

    async def count_past(self, column: str, moment: datetime, cap: int) -> int:
        return await self._inner.count_past(column, moment, cap)

    def all_records(self, tenant: str | None) -> AsyncIterator[tuple[AuthRecord, bool]]:
        return self._inner.all_records(tenant)

    async def check_ready(self) -> None:
        await self._inner.check_ready()

    # --- API keys ------------------------------------------------------------------------------

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        cached = self.keys.get(key_id)
        if cached is not None:
            return cached
        if self.unknown_keys.get(key_id):
            return None
        ticket, unknown_ticket = self.keys.ticket(), self.unknown_keys.ticket()
        key = await self._keys_inner.find_key(key_id)
        if key is not None:
            self.keys.put(key_id, key, ticket)
        else:
            self.unknown_keys.put(key_id, True, unknown_ticket)
        return key

    async def add_key(self, key: ApiKeyRecord) -> None:
        try:
            await self._keys_inner.add_key(key)
        finally:
            self.unknown_keys.invalidate(key.key_id)

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        return await self._keys_inner.list_keys(tenant)

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        try:
            return await self._keys_inner.revoke_key(key_id, at)
        finally:
            self.keys.invalidate(key_id)


def _key_of(record: AuthRecord) -> RecordKey:
    return record.tenant, record.integration_id, record.auth_id
