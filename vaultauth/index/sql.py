"""SqlMetadataIndex: every query of the index lives here; SQLAlchemy errors -> errors.*."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    select,
    tuple_,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from vaultauth.errors import Conflict, IndexUnavailable, InvalidInput, PreconditionFailed
from vaultauth.files import private_dir, private_file
from vaultauth.idempotency import ABANDONED_AFTER, KEEP_FOR, in_progress, reused
from vaultauth.ids import validate_path_segment
from vaultauth.index.driver import DriverQueries, header_from_index, oauth2_from_index
from vaultauth.index.schema import (
    STATE_ACTIVE,
    STATE_DELETING,
    api_keys,
    auth_records,
    idempotency_keys,
)
from vaultauth.keys import ApiKeyRecord, Scope
from vaultauth.models import ApiKeyPosition, AuthRecord, AuthType, Page

T = TypeVar("T")
log = logging.getLogger("vaultauth.index")


def create_index_engine(url: str, *, pool_size: int = 10) -> Engine:
    """One engine per process. SQLite gets WAL and a busy timeout so threads can share it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_dir(Path(parsed.database).parent)
            private_file(Path(parsed.database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        connect_args={"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {},
    )


def _encode_cursor(record: AuthRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), record.auth_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, auth_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("cursor time without a zone")
        # Bound as a query parameter, so it must be an id: PostgreSQL refuses a NUL in text.
        validate_path_segment(auth_id, "cursor")
        # astimezone() overflows on dates at the ends of the range (9999-12-31T23:59-01:00).
        return moment.astimezone(UTC), auth_id
    except (ValueError, TypeError, OverflowError, binascii.Error, InvalidInput):
        raise InvalidInput(
            "cursor is not one this service returned", code="invalid_cursor", field="cursor"
        ) from None


def _encode_due_cursor(record: AuthRecord) -> str:
    assert record.due_at is not None
    raw = json.dumps([record.due_at.isoformat(), record.integration_id, record.auth_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_due_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due_at, integration_id, auth_id = json.loads(raw)
        moment = datetime.fromisoformat(due_at)
        if moment.tzinfo is None:
            raise ValueError("cursor time without a zone")
        validate_path_segment(integration_id, "cursor")
        validate_path_segment(auth_id, "cursor")
        return moment.astimezone(UTC), integration_id, auth_id
    except (ValueError, TypeError, OverflowError, binascii.Error, InvalidInput):
        raise InvalidInput(
            "cursor is not one this service returned", code="invalid_cursor", field="cursor"
        ) from None


def _record_from(row: Any) -> AuthRecord:
    return AuthRecord(
        tenant=row.tenant,
        integration_id=row.integration_id,
        auth_id=row.auth_id,
        auth_type=AuthType(row.auth_type),
        headers=tuple(header_from_index(h) for h in row.headers),
        api_key_name=row.api_key_name,
        api_key_position=ApiKeyPosition(row.api_key_position) if row.api_key_position else None,
        version=row.kv_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        allowed_hosts=tuple(row.allowed_hosts) if row.allowed_hosts is not None else None,
        label=row.label,
        expires_at=row.expires_at,
        rotate_after=row.rotate_after,
        revision=row.revision,
        oauth2=oauth2_from_index(row.oauth2),
    )


def _key_from(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        tenant=row.tenant,
        scopes=frozenset(Scope(s) for s in row.scopes.split()),
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _same_record(tenant: str, integration_id: str, auth_id: str) -> Any:
    return and_(
        auth_records.c.tenant == tenant,
        auth_records.c.integration_id == integration_id,
        auth_records.c.auth_id == auth_id,
    )


class SqlMetadataIndex:
    """MetadataIndex and KeyIndex on one SQLAlchemy engine (blocking; see threaded.py).

    The hot queries (get, insert, update, find_key) run on the driver directly (driver.py)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.driver = DriverQueries(engine)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except sa_exc.IntegrityError:
            raise Conflict("the record already exists") from None
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
            raise IndexUnavailable("the metadata index is unavailable") from None
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise IndexUnavailable("the metadata index is unavailable") from None
            # A schema that was never migrated, or a value the driver refuses: the message
            # (with SQL and bound parameters) stays out of logs and answers.
            log.error("index query failed: %s", type(exc.orig).__name__)
            raise IndexUnavailable(
                "the metadata index could not run the query", code="index_error"
            ) from None

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self._begin() as connection:
            return work(connection)

    def insert(self, record: AuthRecord) -> None:
        self.driver.insert(record)

    def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        return self.driver.get(tenant, integration_id, auth_id)

    def list_page(
        self,
        tenant: str,
        integration_id: str,
        *,
        limit: int,
        cursor: str | None,
        queries: DriverQueries | None = None,
    ) -> Page:
        """A page of records, newest first; `queries` runs the query (default: the pool's)."""
        after = _decode_cursor(cursor) if cursor is not None else None
        driver = queries if queries is not None else self.driver
        rows = driver.list_rows(tenant, integration_id, limit=limit + 1, after=after)
        records = rows[:limit]
        next_cursor = _encode_cursor(records[-1]) if len(rows) > limit else None
        return Page(records=records, next_cursor=next_cursor)

    def update(
        self,
        record: AuthRecord,
        *,
        expected_version: int,
        expected_revision: int | None = None,
        credential: bool = True,
        metadata: bool = False,
    ) -> int | None:
        return self.driver.update(
            record,
            expected_version=expected_version,
            expected_revision=expected_revision,
            credential=credential,
            metadata=metadata,
        )

    def due_page(self, tenant: str, *, before: datetime, limit: int, cursor: str | None) -> Page:
        after = _decode_due_cursor(cursor) if cursor is not None else None
        rows = self.driver.due_rows(tenant, before=before, limit=limit + 1, after=after)
        records = rows[:limit]
        next_cursor = _encode_due_cursor(records[-1]) if len(rows) > limit else None
        return Page(records=records, next_cursor=next_cursor)

    def count_past(self, column: str, moment: datetime, cap: int) -> int:
        return self.driver.count_past(column, moment, cap)

    def tenants(self) -> list[str]:
        """Every tenant that has records (for `vaultauth due` across tenants)."""
        query = select(auth_records.c.tenant).distinct().order_by(auth_records.c.tenant)
        return [str(t) for t in self._run(lambda c: c.execute(query).scalars().all())]

    # --- idempotency keys ---------------------------------------------------------------------

    def claim_idempotency(
        self, tenant: str, integration_id: str, key: str, fingerprint: str, now: datetime
    ) -> str | None:
        """Claim `key` for a create of this body: None when the caller may create (a new
        claim, or one abandoned by a create that died); the authId when that create is done.
        Raises InvalidInput (another body) or Conflict (a create with it is running)."""
        same_key = and_(
            idempotency_keys.c.tenant == tenant,
            idempotency_keys.c.integration_id == integration_id,
            idempotency_keys.c.idempotency_key == key,
        )

        def work(connection: Connection) -> str | None:
            expired = now - KEEP_FOR
            connection.execute(
                delete(idempotency_keys).where(same_key, idempotency_keys.c.created_at < expired)
            )
            self._drop_some_expired(connection, expired)
            claimed = connection.execute(
                self._insert_ignoring_duplicates()
                .values(
                    tenant=tenant,
                    integration_id=integration_id,
                    idempotency_key=key,
                    fingerprint=fingerprint,
                    auth_id=None,
                    created_at=now,
                )
                .returning(idempotency_keys.c.idempotency_key)
            ).first()
            if claimed is not None:  # no row back: the key was there already
                return None
            row = connection.execute(select(idempotency_keys).where(same_key)).one()
            if not hmac.compare_digest(row.fingerprint, fingerprint):
                raise reused()
            if row.auth_id is not None:
                return str(row.auth_id)
            if row.created_at > now - ABANDONED_AFTER:
                raise in_progress()
            taken = connection.execute(
                update(idempotency_keys)
                .where(same_key, idempotency_keys.c.auth_id.is_(None))
                .where(idempotency_keys.c.created_at == row.created_at)
                .values(created_at=now)
            )
            if taken.rowcount != 1:
                raise in_progress()
            return None

        return self._run(work)

    def insert_claimed(self, record: AuthRecord, key: str) -> None:
        """Insert `record` and mark `key` done with it, in one transaction."""

        def work(connection: Connection) -> None:
            self.driver_insert_on(connection, record)
            connection.execute(
                update(idempotency_keys)
                .where(
                    idempotency_keys.c.tenant == record.tenant,
                    idempotency_keys.c.integration_id == record.integration_id,
                    idempotency_keys.c.idempotency_key == key,
                )
                .values(auth_id=record.auth_id)
            )

        self._run(work)

    def release_idempotency(self, tenant: str, integration_id: str, key: str) -> None:
        """Forget a claim whose create failed (failed attempts are not remembered)."""
        self._run(
            lambda c: c.execute(
                delete(idempotency_keys).where(
                    idempotency_keys.c.tenant == tenant,
                    idempotency_keys.c.integration_id == integration_id,
                    idempotency_keys.c.idempotency_key == key,
                    idempotency_keys.c.auth_id.is_(None),
                )
            )
        )

    def _insert_ignoring_duplicates(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql_insert(idempotency_keys).on_conflict_do_nothing()
        return sqlite_insert(idempotency_keys).on_conflict_do_nothing()

    @staticmethod
    def _drop_some_expired(connection: Connection, expired: datetime) -> None:
        """Keys past their 24 hours go a hundred at a time, as claims come: no separate job."""
        oldest = (
            select(
                idempotency_keys.c.tenant,
                idempotency_keys.c.integration_id,
                idempotency_keys.c.idempotency_key,
            )
            .where(idempotency_keys.c.created_at < expired)
            .limit(100)
        )
        connection.execute(
            delete(idempotency_keys).where(
                tuple_(
                    idempotency_keys.c.tenant,
                    idempotency_keys.c.integration_id,
                    idempotency_keys.c.idempotency_key,
                ).in_(oldest)
            )
        )

    def driver_insert_on(self, connection: Connection, record: AuthRecord) -> None:
        """The driver's insert statement, on a connection of a SQLAlchemy transaction."""
        raw = connection.connection.driver_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.driver.insert_sql, self.driver.insert_params(record))
        finally:
            cursor.close()

    def mark_deleting(
        self,
        tenant: str,
        integration_id: str,
        auth_id: str,
        *,
        expected_revision: int | None = None,
    ) -> AuthRecord | None:
        def work(connection: Connection) -> AuthRecord | None:
            guard = (
                [auth_records.c.revision == expected_revision]
                if expected_revision is not None
                else []
            )
            marked = connection.execute(
                update(auth_records)
                .where(_same_record(tenant, integration_id, auth_id), *guard)
                .values(state=STATE_DELETING, revision=auth_records.c.revision + 1)
            )
            if guard and marked.rowcount == 0:
                exists = connection.execute(
                    select(auth_records.c.state).where(
                        _same_record(tenant, integration_id, auth_id)
                    )
                ).first()
                if exists is not None and exists.state == STATE_ACTIVE:
                    raise PreconditionFailed("the record changed since the ETag you sent")
            row = connection.execute(
                select(auth_records).where(_same_record(tenant, integration_id, auth_id))
            ).first()
            return _record_from(row) if row is not None else None

        return self._run(work)

    def remove(self, tenant: str, integration_id: str, auth_id: str) -> None:
        self._run(
            lambda c: c.execute(
                delete(auth_records).where(_same_record(tenant, integration_id, auth_id))
            )
        )

    def all_records(self, tenant: str | None) -> Iterator[tuple[AuthRecord, bool]]:
        query = select(auth_records).order_by(
            auth_records.c.tenant, auth_records.c.integration_id, auth_records.c.auth_id
        )
        if tenant is not None:
            query = query.where(auth_records.c.tenant == tenant)
        rows = self._run(lambda c: c.execute(query).all())
        for row in rows:
            yield _record_from(row), row.state == STATE_DELETING

    def check_ready(self) -> None:
        self._run(lambda c: c.execute(select(1)).scalar_one())
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._check_sqlite_file(database)

    @staticmethod
    def _check_sqlite_file(database: str) -> None:
        # Pooled connections keep working on a file that was moved or deleted (and would write
        # into the orphaned inode): check the path itself with a fresh connection that may not
        # create it.
        try:
            uri = f"file:{urllib.parse.quote(database)}?mode=rw"
            probe = sqlite3.connect(uri, uri=True, timeout=1)
            try:
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                probe.close()
        except sqlite3.Error:
            raise IndexUnavailable("the metadata index is unavailable") from None

    def add_key(self, key: ApiKeyRecord) -> None:
        self._run(
            lambda c: c.execute(
                api_keys.insert().values(
                    key_id=key.key_id,
                    tenant=key.tenant,
                    scopes=" ".join(sorted(s.value for s in key.scopes)),
                    secret_hash=key.secret_hash,
                    created_at=key.created_at,
                    revoked_at=key.revoked_at,
                )
            )
        )

    def find_key(self, key_id: str) -> ApiKeyRecord | None:
        return self.driver.find_key(key_id)

    def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        query = select(api_keys).order_by(api_keys.c.created_at)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        return [_key_from(row) for row in self._run(lambda c: c.execute(query).all())]

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        statement = (
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return self._run(lambda c: c.execute(statement).rowcount == 1)
