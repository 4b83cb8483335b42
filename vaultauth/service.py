"""The Integration Auth operations, and the order in which they write Vault and the index.

Write order (what a crash at each step leaves; `vaultauth reconcile` clears it up):
- create: 1. Vault KV write with cas=0 at a fresh path, 2. index insert. The record becomes
  visible only at 2. A crash between them leaves a secret with no record (invisible, removed by
  reconcile). A failed insert is compensated at once by destroying the secret, but only once
  the index confirms the row is absent (a commit whose answer was lost may have landed); when
  the index cannot say, the secret is left for reconcile.
- update: 1. read the KV version the index names, 2. write the merged document with cas=that
  version (a concurrent writer gets Conflict, never a lost update), 3. index update guarded by
  the same version. A crash between 2 and 3 leaves a KV version the index does not know: the
  record still reads as before, and reconcile rolls the index forward from Vault (so does the
  next PATCH that meets it, once it is older than STALE_WRITE_AFTER).
- delete: 1. mark the record `deleting` (it disappears from reads at once), 2. destroy every KV
  version and the metadata, 3. remove the index row. A crash or Vault outage after 1 leaves a
  hidden row; repeating the DELETE, or reconcile, finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from vaultauth.document import SecretDocument
from vaultauth.errors import Conflict, InvalidInput, NotFound, Unavailable, VaultauthError
from vaultauth.ids import new_auth_id, secret_path, validate_path_segment
from vaultauth.models import (
    AuthRecord,
    AuthType,
    Header,
    Page,
    check_headers,
    parse_allowed_hosts,
    parse_credential,
    patch_credential,
    public_headers,
    record_fields_from,
)
from vaultauth.ports import MetadataIndex, SecretStore, SecretVersionInfo
from vaultauth.resolve import ResolvedCredential, resolve
from vaultauth.resolve_cache import ResolveCache

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


# Longer than any update can take between its Vault write and its index write (Vault failover
# budget, index pool and lock timeouts), so an older unknown version was left by a crash.
STALE_WRITE_AFTER = timedelta(seconds=120)


def utc_now() -> datetime:
    return datetime.now(UTC)


def rolled_forward(
    record: AuthRecord, document: SecretDocument, info: SecretVersionInfo
) -> AuthRecord:
    """`record` as Vault's newer version `info` (holding `document`) describes it."""
    return record.with_changes(
        headers=public_headers(document.headers),
        allowed_hosts=document.allowed_hosts,
        version=info.current_version,
        updated_at=info.updated_at,
        **record_fields_from(document.credential),
    )


class Keep(Enum):
    """A PATCH field that was omitted: keep the stored value (None would clear it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class AuthCreate:
    """A create request as the transport parsed it; credential fields stay raw until the domain
    validates them for the auth type. `repr()` names fields, never values."""

    auth_type: AuthType
    credential_fields: Mapping[str, Any] = field(repr=False)
    headers: tuple[Header, ...] = ()
    allowed_hosts: object = None  # None (any host) or a list of host names, as given

    def __repr__(self) -> str:
        return (
            f"AuthCreate(auth_type={self.auth_type.value!r}, "
            f"credential_fields={sorted(self.credential_fields)!r}, headers={self.headers!r}, "
            f"allowed_hosts={self.allowed_hosts!r})"
        )


@dataclass(frozen=True)
class AuthUpdate:
    """A PATCH request; None or KEEP means the field was not given. `repr()` hides values."""

    auth_type: AuthType | None = None
    credential_fields: Mapping[str, Any] | None = field(default=None, repr=False)
    headers: tuple[Header, ...] | None = None
    allowed_hosts: object = KEEP

    def __repr__(self) -> str:
        fields = sorted(self.credential_fields) if self.credential_fields is not None else None
        return (
            f"AuthUpdate(auth_type={self.auth_type!r}, credential_fields={fields!r}, "
            f"headers={self.headers!r}, allowed_hosts={self.allowed_hosts!r})"
        )


def with_kept_secret_values(
    given: tuple[Header, ...], stored: tuple[Header, ...]
) -> tuple[Header, ...]:
    """PATCH headers: a secret header given without a value keeps the stored secret value of
    that name (compared case-insensitively); with none stored, it stays without one."""
    secrets = {h.key.lower(): h.value for h in stored if h.secret and h.value is not None}
    return tuple(
        Header(key=h.key, value=secrets[h.key.lower()], secret=True)
        if h.secret and h.value is None and h.key.lower() in secrets
        else h
        for h in given
    )


@dataclass(frozen=True)
class Resolved:
    record: AuthRecord
    credential: ResolvedCredential


class CredentialService:
    def __init__(
        self,
        secrets: SecretStore,
        index: MetadataIndex,
        *,
        prefix: str,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = new_auth_id,
        resolve_cache: ResolveCache | None = None,
    ) -> None:
        self._secrets = secrets
        self._index = index
        self._prefix = prefix
        self._clock = clock
        self._new_id = new_id
        self._resolve_cache = resolve_cache

    def _path(self, tenant: str, integration_id: str, auth_id: str) -> str:
        return secret_path(self._prefix, tenant, integration_id, auth_id)

    async def create(self, tenant: str, integration_id: str, body: AuthCreate) -> AuthRecord:
        validate_path_segment(integration_id, "integrationId")
        credential = parse_credential(body.auth_type, body.credential_fields)
        check_headers(credential, body.headers)
        allowed_hosts = parse_allowed_hosts(body.allowed_hosts)
        auth_id = self._new_id()
        path = self._path(tenant, integration_id, auth_id)
        document = SecretDocument(body.auth_type, credential, body.headers, allowed_hosts)
        version = await self._secrets.write(path, document.to_vault(), cas=0)
        now = self._clock()
        record = AuthRecord(
            tenant=tenant,
            integration_id=integration_id,
            auth_id=auth_id,
            auth_type=body.auth_type,
            headers=public_headers(body.headers),
            version=version,
            created_at=now,
            updated_at=now,
            allowed_hosts=allowed_hosts,
            **record_fields_from(credential),
        )
        try:
            await self._index.insert(record)
        except Unavailable:
            # The insert may have committed with its answer lost: only a record we can see is
            # missing may lose its secret; if we cannot tell, reconcile decides later.
            if await self._insert_landed(record, path):
                return record
            raise
        except VaultauthError:
            await self._destroy_quietly(path)
            raise
        return record

    async def _insert_landed(self, record: AuthRecord, path: str) -> bool:
        """After a failed insert: True if the row is there after all; else clean up if we can."""
        try:
            landed = await self._index.get(record.tenant, record.integration_id, record.auth_id)
        except Unavailable:
            return False  # cannot tell: leave the secret for reconcile (secret_without_record)
        if landed is not None:
            return True
        await self._destroy_quietly(path)
        return False

    async def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord:
        validate_path_segment(integration_id, "integrationId")
        validate_path_segment(auth_id, "authId")
        record = await self._index.get(tenant, integration_id, auth_id)
        if record is None:
            raise NotFound("no such auth record")
        return record

    async def list(
        self,
        tenant: str,
        integration_id: str,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page:
        validate_path_segment(integration_id, "integrationId")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_PAGE_SIZE}", code="invalid_limit", field="limit"
            )
        return await self._index.list_page(tenant, integration_id, limit=limit, cursor=cursor)

    async def update(
        self, tenant: str, integration_id: str, auth_id: str, body: AuthUpdate
    ) -> AuthRecord:
        record = await self.get(tenant, integration_id, auth_id)
        if body.auth_type is not None and body.auth_type is not record.auth_type:
            raise InvalidInput(
                "authType is permanent; create a new auth to change it",
                code="auth_type_immutable",
                field="authType",
            )
        path = self._path(tenant, integration_id, auth_id)
        current = await self._read_document(path, record.version)
        credential = patch_credential(
            record.auth_type, current.credential, body.credential_fields or {}
        )
        headers = (
            current.headers
            if body.headers is None
            else with_kept_secret_values(body.headers, current.headers)
        )
        allowed_hosts = (
            current.allowed_hosts
            if body.allowed_hosts is KEEP
            else parse_allowed_hosts(body.allowed_hosts)
        )
        if (credential, headers, allowed_hosts) == (
            current.credential,
            current.headers,
            current.allowed_hosts,
        ):
            return record  # nothing changes: no new Vault version
        check_headers(credential, headers)
        document = SecretDocument(record.auth_type, credential, headers, allowed_hosts)
        try:
            version = await self._secrets.write(path, document.to_vault(), cas=record.version)
        except Conflict:
            await self._heal_index_behind_vault(record, path)
            raise
        self._evict(path)
        updated = record.with_changes(
            headers=public_headers(headers),
            allowed_hosts=allowed_hosts,
            version=version,
            updated_at=self._clock(),
            **record_fields_from(credential),
        )
        if not await self._index.update(updated, expected_version=record.version):
            raise Conflict("the record changed while this update was being written")
        return updated

    async def _heal_index_behind_vault(self, record: AuthRecord, path: str) -> None:
        """Roll the index forward over a Vault version that a crashed update left behind.

        A version newer than the index's that is older than STALE_WRITE_AFTER cannot belong to
        an update still on its way to the index, so the client's retry of this 409 should not
        meet the same wall until `vaultauth reconcile` runs. Best effort: any failure leaves it
        to reconcile, which does the same.
        """
        try:
            info = await self._secrets.version_info(path)
            if info is None or info.current_version <= record.version:
                return
            if self._clock() - info.updated_at < STALE_WRITE_AFTER:
                return  # a concurrent update may still be writing the index
            data = await self._secrets.read(path, info.current_version)
            if data is None:
                return
            document = SecretDocument.from_vault(data)
            if document.auth_type is record.auth_type:
                rolled = rolled_forward(record, document, info)
                await self._index.update(rolled, expected_version=record.version)
        except VaultauthError:
            return

    async def delete(self, tenant: str, integration_id: str, auth_id: str) -> None:
        validate_path_segment(integration_id, "integrationId")
        validate_path_segment(auth_id, "authId")
        if await self._index.mark_deleting(tenant, integration_id, auth_id) is None:
            raise NotFound("no such auth record")
        path = self._path(tenant, integration_id, auth_id)
        self._evict(path)
        await self._secrets.destroy(path)
        await self._index.remove(tenant, integration_id, auth_id)

    async def resolve(self, tenant: str, integration_id: str, auth_id: str) -> Resolved:
        """The credential of the version the index names; from the cache when it holds it."""
        record = await self.get(tenant, integration_id, auth_id)
        return Resolved(record=record, credential=await self.credential_of(record))

    async def credential_of(self, record: AuthRecord) -> ResolvedCredential:
        """The credential of `record`'s version: from the resolve cache, else from Vault."""
        path = self._path(record.tenant, record.integration_id, record.auth_id)
        cache = self._resolve_cache
        credential = cache.get(path, record.version) if cache is not None else None
        if credential is None:
            credential = resolve(await self._read_document(path, record.version))
            if cache is not None:
                cache.put(path, record.version, credential)
        return credential

    def _evict(self, path: str) -> None:
        if self._resolve_cache is not None:
            self._resolve_cache.evict(path)

    async def _read_document(self, path: str, version: int) -> SecretDocument:
        data = await self._secrets.read(path, version)
        if data is None:
            # The index names a version Vault no longer has: a delete is under way.
            raise NotFound("no such auth record")
        return SecretDocument.from_vault(data)

    async def _destroy_quietly(self, path: str) -> None:
        try:
            await self._secrets.destroy(path)
        except Unavailable:
            pass  # reconcile removes secrets that have no record
