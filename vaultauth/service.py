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
- rollback to version N: an update whose new document is version N's content (credential and
  static headers) with the record's current allowedHosts: the same three steps, the same
  crash story.
- OAuth 2.0 records also have a token document beside their secret (`vaultauth.oauth`): an
  update or rollback that changes what the token depends on destroys it after step 2 (best
  effort: a token document of another configuration is ignored and replaced anyway), and a
  delete destroys it before the secret (reconcile removes one left behind by a crash).
- label, expiresAt and rotateAfter live in the index only: changing only them is one guarded
  index update (by revision, so two such PATCHes cannot lose each other's change), no Vault
  version.
- idempotent create: 1. claim the key in the index (a keyed hash of the body), 2. the Vault
  write, 3. the record insert and the claim's completion in one index transaction. A crash
  leaves a pending claim (taken over after ABANDONED_AFTER) and possibly an orphan secret.

Writes read the record as the index holds it now (never from a cache), and an If-Match names
its revision (the ETag); a mismatch changes nothing (PreconditionFailed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any

from vaultauth.document import SecretDocument
from vaultauth.errors import (
    Conflict,
    CorruptSecret,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Unavailable,
    VaultauthError,
)
from vaultauth.idempotency import Fingerprinter, check_idempotency_key
from vaultauth.ids import new_auth_id, secret_path, validate_path_segment
from vaultauth.models import (
    AuthRecord,
    AuthType,
    Credential,
    Header,
    OAuth2Credential,
    Page,
    check_headers,
    parse_allowed_hosts,
    parse_credential,
    parse_label,
    parse_moment,
    patch_credential,
    public_headers,
    record_fields_from,
)
from vaultauth.oauth.broker import RecordChanged, TokenBroker
from vaultauth.oauth.state import token_path, usable_for
from vaultauth.oauth.token_url import TokenUrlPolicy
from vaultauth.ports import MetadataIndex, SecretStore, SecretVersionInfo, VersionState
from vaultauth.resolve import ResolvedCredential, resolve
from vaultauth.resolve_cache import ResolveCache

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DEFAULT_MAX_VERSIONS = 10
# A second create with a key whose first is still running waits this long for it to finish.
WAIT_FOR_SAME_KEY = 2.0


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
    label: object = None
    expires_at: object = None  # an RFC 3339 string, as given
    rotate_after: object = None

    def __repr__(self) -> str:
        return (
            f"AuthCreate(auth_type={self.auth_type.value!r}, "
            f"credential_fields={sorted(self.credential_fields)!r}, headers={self.headers!r}, "
            f"allowed_hosts={self.allowed_hosts!r}, label={self.label!r}, "
            f"expires_at={self.expires_at!r}, rotate_after={self.rotate_after!r})"
        )


@dataclass(frozen=True)
class AuthUpdate:
    """A PATCH request; None or KEEP means the field was not given. `repr()` hides values."""

    auth_type: AuthType | None = None
    credential_fields: Mapping[str, Any] | None = field(default=None, repr=False)
    headers: tuple[Header, ...] | None = None
    allowed_hosts: object = KEEP
    label: object = KEEP
    expires_at: object = KEEP
    rotate_after: object = KEEP

    def __repr__(self) -> str:
        fields = sorted(self.credential_fields) if self.credential_fields is not None else None
        return (
            f"AuthUpdate(auth_type={self.auth_type!r}, credential_fields={fields!r}, "
            f"headers={self.headers!r}, allowed_hosts={self.allowed_hosts!r}, "
            f"label={self.label!r}, expires_at={self.expires_at!r}, "
            f"rotate_after={self.rotate_after!r})"
        )

    @property
    def touches_vault(self) -> bool:
        """Whether the PATCH may change the Vault document (else it is metadata only)."""
        return (
            bool(
                self.credential_fields
                and any(v is not None for v in self.credential_fields.values())
            )
            or self.headers is not None
            or self.allowed_hosts is not KEEP
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


def check_if_match(record: AuthRecord, if_match: str | None) -> None:
    """An If-Match header against the record's ETag (strong comparison; `*` matches)."""
    if if_match is None:
        return
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags or record.etag in tags:
        return
    raise PreconditionFailed("the record changed since the ETag you sent (If-Match)")


@dataclass(frozen=True)
class VersionEntry:
    number: int
    created_at: datetime
    current: bool
    available: bool


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
        max_versions: int = DEFAULT_MAX_VERSIONS,
        fingerprinter: Fingerprinter | None = None,
        tokens: TokenBroker | None = None,
        token_urls: TokenUrlPolicy | None = None,
    ) -> None:
        """`tokens` obtains OAuth 2.0 access tokens (without it, such records do not resolve);
        `token_urls` is the deployment's rule for their token URLs (default: https only)."""
        self._secrets = secrets
        self._index = index
        self._prefix = prefix
        self._clock = clock
        self._new_id = new_id
        self._resolve_cache = resolve_cache
        self._max_versions = max_versions
        self._fingerprinter = fingerprinter or Fingerprinter(secrets, prefix)
        self._tokens = tokens
        self._token_urls = token_urls or TokenUrlPolicy()

    def _path(self, tenant: str, integration_id: str, auth_id: str) -> str:
        return secret_path(self._prefix, tenant, integration_id, auth_id)

    async def create(
        self,
        tenant: str,
        integration_id: str,
        body: AuthCreate,
        *,
        idempotency_key: str | None = None,
    ) -> AuthRecord:
        """Create a record; with `idempotency_key` (claimed through `create_once`), its insert
        also completes the claim."""
        validate_path_segment(integration_id, "integrationId")
        credential = parse_credential(body.auth_type, body.credential_fields)
        self._check_token_url(credential)
        check_headers(credential, body.headers)
        allowed_hosts = parse_allowed_hosts(body.allowed_hosts)
        label = parse_label(body.label)
        expires_at = parse_moment(body.expires_at, "expiresAt")
        rotate_after = parse_moment(body.rotate_after, "rotateAfter")
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
            label=label,
            expires_at=expires_at,
            rotate_after=rotate_after,
            **record_fields_from(credential),
        )
        try:
            if idempotency_key is None:
                await self._index.insert(record)
            else:
                await self._index.insert_claimed(record, idempotency_key)
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

    async def create_once(
        self,
        tenant: str,
        integration_id: str,
        body: AuthCreate,
        *,
        idempotency_key: str,
        canonical_body: bytes,
    ) -> AuthRecord:
        """Create with an Idempotency-Key: a repeat with an equivalent body gets the record the
        first one made (as it is now) and writes nothing; see idempotency.py."""
        validate_path_segment(integration_id, "integrationId")
        key = check_idempotency_key(idempotency_key)
        fingerprint = await self._fingerprinter.fingerprint(canonical_body)
        deadline = time.monotonic() + WAIT_FOR_SAME_KEY
        while True:
            try:
                done = await self._index.claim_idempotency(
                    tenant, integration_id, key, fingerprint, self._clock()
                )
                break
            except Conflict:
                if time.monotonic() >= deadline:
                    raise  # still running elsewhere: 409 idempotency_in_progress
                await asyncio.sleep(0.05)
        if done is not None:
            record = await self._index.get_current(tenant, integration_id, done)
            if record is None:
                raise NotFound("the record this Idempotency-Key created has been deleted")
            return record
        try:
            return await self.create(tenant, integration_id, body, idempotency_key=key)
        except BaseException:
            # Failed attempts are not remembered: the next one may try again at once.
            try:
                await asyncio.shield(self._index.release_idempotency(tenant, integration_id, key))
            except (VaultauthError, asyncio.CancelledError):
                pass  # the claim is taken over once ABANDONED_AFTER has passed
            raise

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

    async def _current(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord:
        """The record as the index holds it now, for a write (never a cached copy)."""
        validate_path_segment(integration_id, "integrationId")
        validate_path_segment(auth_id, "authId")
        record = await self._index.get_current(tenant, integration_id, auth_id)
        if record is None:
            raise NotFound("no such auth record")
        return record

    async def update(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        body: AuthUpdate,
        *,
        if_match: str | None = None,
    ) -> AuthRecord:
        record = await self._current(tenant, integration_id, auth_id)
        check_if_match(record, if_match)
        if body.auth_type is not None and body.auth_type is not record.auth_type:
            raise InvalidInput(
                "authType is permanent; create a new auth to change it",
                code="auth_type_immutable",
                field="authType",
            )
        metadata = record.with_changes(
            label=record.label if body.label is KEEP else parse_label(body.label),
            expires_at=(
                record.expires_at
                if body.expires_at is KEEP
                else parse_moment(body.expires_at, "expiresAt")
            ),
            rotate_after=(
                record.rotate_after
                if body.rotate_after is KEEP
                else parse_moment(body.rotate_after, "rotateAfter")
            ),
        )
        metadata_changed = (metadata.label, metadata.expires_at, metadata.rotate_after) != (
            record.label,
            record.expires_at,
            record.rotate_after,
        )
        patched = await self._patched_document(record, body) if body.touches_vault else None
        if patched is None:
            if not metadata_changed:
                return record  # nothing changes
            return await self._store_metadata(record, metadata, if_match)
        document, before = patched
        return await self._write_version(
            record, document, metadata, metadata_changed, if_match, before=before.credential
        )

    async def _patched_document(
        self, record: AuthRecord, body: AuthUpdate
    ) -> tuple[SecretDocument, SecretDocument] | None:
        """The document the PATCH makes of the current one, and the current one; None when it
        changes nothing."""
        path = self._path(record.tenant, record.integration_id, record.auth_id)
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
            return None
        if credential != current.credential:
            self._check_token_url(credential)
        check_headers(credential, headers)
        return SecretDocument(record.auth_type, credential, headers, allowed_hosts), current

    async def _store_metadata(
        self, record: AuthRecord, metadata: AuthRecord, if_match: str | None
    ) -> AuthRecord:
        """label / expiresAt / rotateAfter only: one index update, guarded by the revision."""
        updated = metadata.with_changes(updated_at=self._clock())
        revision = await self._index.update(
            updated,
            expected_version=record.version,
            expected_revision=record.revision,
            credential=False,
            metadata=True,
        )
        if revision is None:
            raise _moved(if_match)
        return updated.with_changes(revision=revision)

    async def _write_version(
        self,
        record: AuthRecord,
        document: SecretDocument,
        metadata: AuthRecord,
        metadata_changed: bool,
        if_match: str | None,
        *,
        before: Credential,
    ) -> AuthRecord:
        """A new Vault version (check-and-set on the record's), then the index (write order in
        the module docstring). `before`: the credential it replaces."""
        path = self._path(record.tenant, record.integration_id, record.auth_id)
        try:
            version = await self._secrets.write(path, document.to_vault(), cas=record.version)
        except Conflict:
            await self._heal_index_behind_vault(record, path)
            raise
        self._evict(path)
        if _token_config_changed(before, document.credential):
            await self._discard_token(path)
        await self._keep_versions(path, version)
        updated = metadata.with_changes(
            headers=public_headers(document.headers),
            allowed_hosts=document.allowed_hosts,
            version=version,
            updated_at=self._clock(),
            **record_fields_from(document.credential),
        )
        revision = await self._index.update(
            updated,
            expected_version=record.version,
            expected_revision=record.revision if if_match is not None else None,
            credential=True,
            metadata=metadata_changed,
        )
        if revision is None:
            raise _moved(if_match)
        return updated.with_changes(revision=revision)

    async def _keep_versions(self, path: str, version: int) -> None:
        """Set the retention of a secret's versions, once: by its first write after version 1
        (never an extra call on create). Best effort: a failure keeps Vault's default."""
        if version != 2:
            return
        try:
            await self._secrets.set_max_versions(path, self._max_versions)
        except Unavailable:
            pass

    async def versions(
        self, tenant: str, integration_id: str, auth_id: str
    ) -> tuple[AuthRecord, tuple[VersionEntry, ...]]:
        """The record and its Vault versions, newest first (numbers and dates only)."""
        record = await self.get(tenant, integration_id, auth_id)
        metadata = await self._secrets.metadata(self._path(tenant, integration_id, auth_id))
        if metadata is None:
            raise NotFound("no such auth record")
        entries = tuple(
            VersionEntry(v.number, v.created_at, v.number == record.version, v.available)
            for v in sorted(metadata.versions, key=lambda v: v.number, reverse=True)
        )
        return record, entries

    async def rollback(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        version: int,
        *,
        if_match: str | None = None,
    ) -> AuthRecord:
        """A new version whose content (credential, static headers) is version `version`'s;
        the record keeps its label, dates and allowedHosts. Nothing is written when `version`
        is already the current one."""
        record = await self._current(tenant, integration_id, auth_id)
        check_if_match(record, if_match)
        if version == record.version:
            return record
        path = self._path(tenant, integration_id, auth_id)
        metadata = await self._secrets.metadata(path)
        state = _version_state(metadata.versions if metadata else (), version)
        if metadata is None or (state is None and version > metadata.current_version):
            raise NotFound(f"no version {version} of this record", code="version_not_found")
        if state is None or not state.available or version < metadata.oldest_version:
            raise InvalidInput(
                f"version {version} is no longer available in Vault",
                code="version_unavailable",
                field="version",
            )
        data = await self._secrets.read(path, version)
        if data is None:
            raise InvalidInput(
                f"version {version} is no longer available in Vault",
                code="version_unavailable",
                field="version",
            )
        old = SecretDocument.from_vault(data)
        if old.auth_type is not record.auth_type:
            raise CorruptSecret("that version holds another authType than the record")
        current = await self._read_document(path, record.version)
        document = SecretDocument(
            record.auth_type, old.credential, old.headers, current.allowed_hosts
        )
        if (document.credential, document.headers) == (current.credential, current.headers):
            return record  # the same content: nothing to write
        return await self._write_version(
            record, document, record, False, if_match, before=current.credential
        )

    async def due(
        self,
        tenant: str,
        *,
        before: str | None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page:
        """The tenant's records to expire or rotate before `before`, the earliest first."""
        moment = parse_moment(before, "before") if before is not None else None
        if moment is None:
            raise InvalidInput(
                "before is required: an RFC 3339 date-time with a time zone",
                code="invalid_datetime",
                field="before",
            )
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_PAGE_SIZE}", code="invalid_limit", field="limit"
            )
        return await self._index.due_page(tenant, before=moment, limit=limit, cursor=cursor)

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

    async def delete(
        self, tenant: str, integration_id: str, auth_id: str, *, if_match: str | None = None
    ) -> None:
        validate_path_segment(integration_id, "integrationId")
        validate_path_segment(auth_id, "authId")
        expected_revision = None
        if if_match is not None:
            record = await self._current(tenant, integration_id, auth_id)
            check_if_match(record, if_match)
            expected_revision = None if if_match.strip() == "*" else record.revision
        marked = await self._index.mark_deleting(
            tenant, integration_id, auth_id, expected_revision=expected_revision
        )
        if marked is None:
            raise NotFound("no such auth record")
        path = self._path(tenant, integration_id, auth_id)
        self._evict(path)
        if marked.auth_type.is_oauth2:
            if self._tokens is not None:
                self._tokens.forget(path)
            await self._secrets.destroy(token_path(path))
        await self._secrets.destroy(path)
        await self._index.remove(tenant, integration_id, auth_id)

    async def resolve(self, tenant: str, integration_id: str, auth_id: str) -> Resolved:
        """The credential of the version the index names; from the cache when it holds it."""
        record = await self.get(tenant, integration_id, auth_id)
        return Resolved(record=record, credential=await self.credential_of(record))

    async def credential_of(self, record: AuthRecord) -> ResolvedCredential:
        """The credential of `record`'s version: from the resolve cache, else from Vault (and,
        for the OAuth 2.0 types, with the access token the token broker holds or obtains)."""
        path = self._path(record.tenant, record.integration_id, record.auth_id)
        cache = self._resolve_cache
        credential = cache.get(path, record.version) if cache is not None else None
        if credential is not None:
            return credential
        if record.auth_type.is_oauth2:
            return await self._oauth2_credential_of(record, path)
        credential = resolve(await self._read_document(path, record.version))
        if cache is not None:
            cache.put(path, record.version, credential)
        return credential

    async def _oauth2_credential_of(self, record: AuthRecord, path: str) -> ResolvedCredential:
        if self._tokens is None:
            raise Unavailable("this facade obtains no OAuth 2.0 tokens", code="oauth_disabled")
        for _attempt in range(3):
            document = await self._read_document(path, record.version)
            credential = document.credential
            if not isinstance(credential, OAuth2Credential):
                raise CorruptSecret("the record's document holds another authType")
            self._check_token_url(credential)  # the deployment's rule may have tightened
            try:
                token = await self._tokens.token(
                    path, credential, is_current=partial(self._is_current, record)
                )
            except RecordChanged:
                record = await self._current(record.tenant, record.integration_id, record.auth_id)
                continue
            resolved = resolve(document, token)
            if self._resolve_cache is not None:
                lifetime = (token.expires_at - utc_now()).total_seconds()
                self._resolve_cache.put(path, record.version, resolved, ttl=usable_for(lifetime))
            return resolved
        raise Conflict("the record kept changing while its access token was obtained; retry")

    async def _is_current(self, record: AuthRecord) -> bool:
        current = await self._index.get_current(
            record.tenant, record.integration_id, record.auth_id
        )
        return current is not None and current.version == record.version

    def _check_token_url(self, credential: Credential) -> None:
        if isinstance(credential, OAuth2Credential):
            self._token_urls.check(credential.token_url)

    async def _discard_token(self, path: str) -> None:
        """Forget the access token of a configuration that is no longer the record's."""
        if self._tokens is not None:
            self._tokens.forget(path)
        try:
            await self._secrets.destroy(token_path(path))
        except Unavailable:
            pass  # harmless: a token document of another configuration is never used

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


def _token_config_changed(before: Credential, after: Credential) -> bool:
    if not isinstance(before, OAuth2Credential) or not isinstance(after, OAuth2Credential):
        return False
    return before.token_config_hash() != after.token_config_hash()


def _moved(if_match: str | None) -> VaultauthError:
    """The record changed between reading it and writing it."""
    if if_match is not None:
        return PreconditionFailed("the record changed since the ETag you sent (If-Match)")
    return Conflict("the record changed while this update was being written")


def _version_state(versions: tuple[VersionState, ...], number: int) -> VersionState | None:
    return next((v for v in versions if v.number == number), None)
