"""The index's hot queries, on the database driver directly (sqlite3 or psycopg).

Creating, updating and reading one record, and looking up an API key, run on every write and
on every cache miss. Through SQLAlchemy Core each of them costs 100-400 µs of CPU here, through
the driver 5-50 µs (see docs/benchmarks.md), so these four are written in plain SQL on a pooled
DB-API connection; everything else in `sql.py` stays on SQLAlchemy. Both read and write the
very same columns SQLAlchemy does (SQLite keeps UTC date-times as `YYYY-MM-DD HH:MM:SS.ffffff`
text and headers as JSON text), so either can read what the other wrote. psycopg prepares a
statement on the server once it has run a few times on a connection.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from vaultauth.errors import Conflict, IndexUnavailable
from vaultauth.index.schema import STATE_ACTIVE
from vaultauth.keys import ApiKeyRecord, Scope
from vaultauth.models import (
    ApiKeyPosition,
    AuthRecord,
    AuthType,
    ClientAuth,
    Header,
    OAuth2Settings,
)

log = logging.getLogger("vaultauth.index")

_RECORD_COLUMNS = (
    "tenant, integration_id, auth_id, auth_type, headers, api_key_name, api_key_position, "
    "kv_version, created_at, updated_at, allowed_hosts, label, expires_at, rotate_after, "
    "revision, oauth2"
)
_SAME_RECORD = "tenant = :tenant AND integration_id = :integration_id AND auth_id = :auth_id"
_ACTIVE = f"state = '{STATE_ACTIVE}'"

_GET = f"SELECT {_RECORD_COLUMNS} FROM auth_records WHERE {_SAME_RECORD} AND {_ACTIVE}"
_INSERT = (
    f"INSERT INTO auth_records ({_RECORD_COLUMNS}, due_at, state) VALUES (:tenant, "
    ":integration_id, :auth_id, :auth_type, :headers, :api_key_name, :api_key_position, "
    ":kv_version, :created_at, :updated_at, :allowed_hosts, :label, :expires_at, :rotate_after, "
    f"1, :oauth2, :due_at, '{STATE_ACTIVE}')"
)
# What an update may set: the columns that follow the Vault document, and the ones that live in
# the index only. Each update sets the groups that changed, and bumps the revision (the ETag).
CREDENTIAL_COLUMNS = (
    "auth_type",
    "headers",
    "api_key_name",
    "api_key_position",
    "kv_version",
    "allowed_hosts",
    "oauth2",
)
METADATA_COLUMNS = ("label", "expires_at", "rotate_after", "due_at")
_LIST = (
    f"SELECT {_RECORD_COLUMNS} FROM auth_records WHERE tenant = :tenant "
    f"AND integration_id = :integration_id AND {_ACTIVE} "
    "ORDER BY created_at DESC, auth_id DESC LIMIT :limit"
)
# The page after a cursor: a row-value comparison, which both databases run on the index.
_LIST_AFTER = _LIST.replace(
    "ORDER BY", "AND (created_at, auth_id) < (:created_at, :auth_id) ORDER BY"
)
_DUE = (
    f"SELECT {_RECORD_COLUMNS}, due_at FROM auth_records WHERE tenant = :tenant "
    f"AND due_at IS NOT NULL AND due_at < :before AND {_ACTIVE} "
    "ORDER BY due_at, integration_id, auth_id LIMIT :limit"
)
_DUE_AFTER = _DUE.replace(
    "ORDER BY",
    "AND (due_at, integration_id, auth_id) > (:due_at, :integration_id, :auth_id) ORDER BY",
)
_FIND_KEY = (
    "SELECT key_id, tenant, scopes, secret_hash, created_at, revoked_at "
    "FROM api_keys WHERE key_id = :key_id"
)
_NAMED = re.compile(r":(\w+)")


class DriverQueries:
    """get / insert / update of a record and find_key, on `engine`'s pooled DB-API connections."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite lets one writer in at a time and makes the others sleep and retry (1, 2, 5,
        # 10 ... ms): threads of one process queue here instead, which is far cheaper.
        self.write_lock = threading.Lock()
        self._write_lock: AbstractContextManager[object] = (
            self.write_lock if self._sqlite else nullcontext()
        )
        dbapi = engine.dialect.dbapi
        assert dbapi is not None
        self._dbapi = dbapi
        # sqlite3 takes :name; psycopg takes %(name)s.
        self._sql = {
            name: self._dialect(sql)
            for name, sql in (
                ("get", _GET),
                ("insert", _INSERT),
                ("list", _LIST),
                ("list_after", _LIST_AFTER),
                ("due", _DUE),
                ("due_after", _DUE_AFTER),
                ("find_key", _FIND_KEY),
            )
        }

    def get(self, tenant: str, integration_id: str, auth_id: str) -> AuthRecord | None:
        params = {"tenant": tenant, "integration_id": integration_id, "auth_id": auth_id}
        with self._cursor() as cursor:
            cursor.execute(self._sql["get"], params)
            row = cursor.fetchone()
        return self._record(row) if row is not None else None

    def insert(self, record: AuthRecord) -> None:
        with self._writing() as cursor:
            cursor.execute(self.insert_sql, self.insert_params(record))

    @property
    def insert_sql(self) -> str:
        return self._sql["insert"]

    def insert_params(self, record: AuthRecord) -> dict[str, Any]:
        params = self._columns(record)
        params["created_at"] = self._moment(record.created_at)
        return params

    def update(
        self,
        record: AuthRecord,
        *,
        expected_version: int,
        expected_revision: int | None = None,
        credential: bool = True,
        metadata: bool = False,
    ) -> int | None:
        """Store the `credential` and/or `metadata` columns of `record` if the row is still at
        `expected_version` (and `expected_revision`); its new revision, or None if it moved."""
        params = self._columns(record)
        params["expected_version"] = expected_version
        params["expected_revision"] = expected_revision
        with self._writing() as cursor:
            cursor.execute(self._update_sql(credential, metadata, expected_revision), params)
            row = cursor.fetchone()
        return int(row[0]) if row is not None else None

    def _update_sql(self, credential: bool, metadata: bool, revision_guard: int | None) -> str:
        key = f"update-{credential}-{metadata}-{revision_guard is not None}"
        sql = self._sql.get(key)
        if sql is None:
            columns = (CREDENTIAL_COLUMNS if credential else ()) + (
                METADATA_COLUMNS if metadata else ()
            )
            assignments = ", ".join(f"{c} = :{c}" for c in columns)
            guard = " AND revision = :expected_revision" if revision_guard is not None else ""
            sql = self._sql[key] = self._dialect(
                f"UPDATE auth_records SET {assignments}, updated_at = :updated_at, "
                f"revision = revision + 1 WHERE {_SAME_RECORD} AND {_ACTIVE} "
                f"AND kv_version = :expected_version{guard} RETURNING revision"
            )
        return sql

    def due_rows(
        self,
        tenant: str,
        *,
        before: datetime,
        limit: int,
        after: tuple[datetime, str, str] | None,
    ) -> list[AuthRecord]:
        """Records due before `before` (expiry or rotation), the earliest first; with `after`,
        those past that position (due date, integration id, auth id)."""
        params: dict[str, Any] = {
            "tenant": tenant,
            "before": self._moment(before),
            "limit": limit,
        }
        statement = "due"
        if after is not None:
            statement = "due_after"
            params["due_at"] = self._moment(after[0])
            params["integration_id"], params["auth_id"] = after[1], after[2]
        with self._cursor() as cursor:
            cursor.execute(self._sql[statement], params)
            rows = cursor.fetchall()
        return [self._record(row[:-1]) for row in rows]

    def count_past(self, column: str, moment: datetime, cap: int) -> int:
        """How many active records have `column` (expires_at or rotate_after) before `moment`,
        counted up to `cap` (a scrape must stay cheap whatever the index holds)."""
        assert column in ("expires_at", "rotate_after")
        sql = self._dialect(
            f"SELECT count(*) FROM (SELECT 1 FROM auth_records WHERE {column} IS NOT NULL "
            f"AND {column} < :moment AND {_ACTIVE} LIMIT :cap) AS past"
        )
        with self._cursor() as cursor:
            cursor.execute(sql, {"moment": self._moment(moment), "cap": cap})
            row = cursor.fetchone()
        return int(row[0])

    def _dialect(self, sql: str) -> str:
        """sqlite3 takes :name; psycopg takes %(name)s."""
        return sql if self._sqlite else _NAMED.sub(r"%(\1)s", sql)

    def list_rows(
        self,
        tenant: str,
        integration_id: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
    ) -> list[AuthRecord]:
        """Up to `limit` records, newest first; with `after`, those older than that position."""
        params: dict[str, Any] = {"tenant": tenant, "integration_id": integration_id}
        params["limit"] = limit
        statement = "list"
        if after is not None:
            statement = "list_after"
            params["created_at"] = self._moment(after[0])
            params["auth_id"] = after[1]
        with self._cursor() as cursor:
            cursor.execute(self._sql[statement], params)
            rows = cursor.fetchall()
        return [self._record(row) for row in rows]

    def query_plans(self, *, small_table: bool = False) -> dict[str, str]:
        """How the database runs each hot query (EXPLAIN), for the tests and the benchmark.

        `small_table`: PostgreSQL scans a table of a few rows rather than use an index; this
        asks it to plan as it would for a large one (the indexes must still be usable)."""
        explain = "EXPLAIN QUERY PLAN " if self._sqlite else "EXPLAIN "
        sample: dict[str, Any] = {
            "tenant": "t",
            "integration_id": "i",
            "auth_id": "a",
            "key_id": "k",
            "limit": 51,
            "created_at": self._moment(datetime.now(UTC)),
        }
        plans = {}
        sample["before"] = sample["created_at"]
        sample["due_at"] = sample["created_at"]
        for name in ("get", "list", "list_after", "due", "due_after", "find_key"):
            with self._cursor() as cursor:
                if small_table and not self._sqlite:
                    cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(explain + self._sql[name], sample)
                plans[name] = "\n".join(" ".join(str(v) for v in row) for row in cursor.fetchall())
        return plans

    def find_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._cursor() as cursor:
            cursor.execute(self._sql["find_key"], {"key_id": key_id})
            row = cursor.fetchone()
        if row is None:
            return None
        key_id, tenant, scopes, secret_hash, created_at, revoked_at = row
        return ApiKeyRecord(
            key_id=key_id,
            tenant=tenant,
            scopes=frozenset(Scope(s) for s in scopes.split()),
            secret_hash=secret_hash,
            created_at=self._read_moment(created_at),
            revoked_at=self._read_moment(revoked_at) if revoked_at is not None else None,
        )

    # --- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        """A cursor for one write transaction."""
        with self._write_lock, self._cursor() as cursor:
            yield cursor

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor on a pooled connection; committed on success, errors translated."""
        try:
            connection = self._engine.raw_connection()
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
            raise IndexUnavailable("the metadata index is unavailable") from None
        dbapi = self._dbapi
        try:
            cursor = connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            connection.commit()
        except dbapi.IntegrityError:
            connection.rollback()
            raise Conflict("the record already exists") from None
        except (dbapi.OperationalError, dbapi.InterfaceError):
            connection.invalidate()  # a broken connection must not go back to the pool
            raise IndexUnavailable("the metadata index is unavailable") from None
        except dbapi.Error as exc:
            connection.rollback()
            # A schema that was never migrated, or a value the driver refuses: the message
            # (with SQL and bound parameters) stays out of logs and answers.
            log.error("index query failed: %s", type(exc).__name__)
            raise IndexUnavailable(
                "the metadata index could not run the query", code="index_error"
            ) from None
        finally:
            connection.close()  # back to the pool

    def _columns(self, record: AuthRecord) -> dict[str, Any]:
        return {
            "tenant": record.tenant,
            "integration_id": record.integration_id,
            "auth_id": record.auth_id,
            "auth_type": record.auth_type.value,
            "headers": json.dumps([_header_to_index(h) for h in record.headers]),
            "api_key_name": record.api_key_name,
            "api_key_position": (
                record.api_key_position.value if record.api_key_position else None
            ),
            "kv_version": record.version,
            "updated_at": self._moment(record.updated_at),
            "allowed_hosts": (
                json.dumps(list(record.allowed_hosts)) if record.allowed_hosts is not None else None
            ),
            "label": record.label,
            "expires_at": self._optional_moment(record.expires_at),
            "rotate_after": self._optional_moment(record.rotate_after),
            "due_at": self._optional_moment(record.due_at),
            "oauth2": oauth2_to_index(record.oauth2),
        }

    def _optional_moment(self, moment: datetime | None) -> Any:
        return self._moment(moment) if moment is not None else None

    def _moment(self, moment: datetime) -> Any:
        """A date-time as the column stores it (SQLite: naive UTC text, as SQLAlchemy writes)."""
        if self._sqlite:
            return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return moment

    @staticmethod
    def _read_moment(value: Any) -> datetime:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def _record(self, row: Any) -> AuthRecord:
        (
            tenant,
            integration_id,
            auth_id,
            auth_type,
            headers,
            api_key_name,
            api_key_position,
            version,
            created_at,
            updated_at,
            allowed_hosts,
            label,
            expires_at,
            rotate_after,
            revision,
            oauth2,
        ) = row
        if headers == "[]":  # most records: spare the JSON parser
            headers = ()
        elif isinstance(headers, str):
            headers = json.loads(headers)
        allowed_hosts = (
            json.loads(allowed_hosts) if isinstance(allowed_hosts, str) else allowed_hosts
        )
        return AuthRecord(
            tenant=tenant,
            integration_id=integration_id,
            auth_id=auth_id,
            auth_type=AuthType(auth_type),
            headers=tuple(header_from_index(h) for h in headers),
            api_key_name=api_key_name,
            api_key_position=ApiKeyPosition(api_key_position) if api_key_position else None,
            version=version,
            created_at=self._read_moment(created_at),
            updated_at=self._read_moment(updated_at),
            allowed_hosts=tuple(allowed_hosts) if allowed_hosts is not None else None,
            label=label,
            expires_at=self._read_moment(expires_at) if expires_at is not None else None,
            rotate_after=self._read_moment(rotate_after) if rotate_after is not None else None,
            revision=int(revision),
            oauth2=oauth2_from_index(_json(oauth2) if oauth2 is not None else None),
        )


def _json(value: Any) -> Any:
    """A JSON column's value: text on SQLite, already parsed by psycopg."""
    return json.loads(value) if isinstance(value, str) else value


def _header_to_index(header: Header) -> dict[str, Any]:
    """A header as the index keeps it: a secret one by name only (its value is in Vault)."""
    if header.secret:
        return {"key": header.key, "secret": True}
    return {"key": header.key, "value": header.value}


def oauth2_to_index(settings: OAuth2Settings | None) -> str | None:
    """The OAuth 2.0 configuration as the index keeps it: no secret is part of it."""
    if settings is None:
        return None
    return json.dumps(
        {
            "tokenUrl": settings.token_url,
            "clientId": settings.client_id,
            "scopes": list(settings.scopes),
            "audience": settings.audience,
            "clientAuth": settings.client_auth.value,
        }
    )


def oauth2_from_index(stored: dict[str, Any] | None) -> OAuth2Settings | None:
    if stored is None:
        return None
    return OAuth2Settings(
        token_url=stored["tokenUrl"],
        client_id=stored["clientId"],
        scopes=tuple(stored.get("scopes") or ()),
        audience=stored.get("audience"),
        client_auth=ClientAuth(stored.get("clientAuth", "basic")),
    )


def header_from_index(stored: dict[str, Any]) -> Header:
    return Header(key=stored["key"], value=stored.get("value"), secret=stored.get("secret", False))
