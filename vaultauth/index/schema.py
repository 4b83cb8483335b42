"""Tables of the metadata index. No column ever holds a secret value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


metadata = MetaData()

STATE_ACTIVE = "active"
STATE_DELETING = "deleting"

auth_records = Table(
    "auth_records",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("integration_id", String(64), primary_key=True),
    Column("auth_id", String(64), primary_key=True),
    Column("auth_type", String(32), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("api_key_name", String(256)),
    Column("api_key_position", String(8)),
    Column("kv_version", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("allowed_hosts", JSON),
    Column("label", String(128)),
    Column("expires_at", UtcDateTime),
    Column("rotate_after", UtcDateTime),
    Column("due_at", UtcDateTime),  # the earlier of expires_at and rotate_after
    Column("revision", Integer, nullable=False, server_default=text("1")),  # the ETag
    # OAuth 2.0 types: tokenUrl, clientId, scopes, audience, clientAuth (never the secrets).
    Column("oauth2", JSON),
    Index("ix_auth_records_listing", "tenant", "integration_id", "created_at", "auth_id"),
    Index(
        "ix_auth_records_due",
        "tenant",
        "due_at",
        "integration_id",
        "auth_id",
        sqlite_where=text("due_at IS NOT NULL"),
        postgresql_where=text("due_at IS NOT NULL"),
    ),
    Index(
        "ix_auth_records_expires_at",
        "expires_at",
        sqlite_where=text("expires_at IS NOT NULL"),
        postgresql_where=text("expires_at IS NOT NULL"),
    ),
    Index(
        "ix_auth_records_rotate_after",
        "rotate_after",
        sqlite_where=text("rotate_after IS NOT NULL"),
        postgresql_where=text("rotate_after IS NOT NULL"),
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("integration_id", String(64), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # a keyed hash of the body, never it
    Column("auth_id", String(64)),  # NULL while the create runs
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False, index=True),
    Column("scopes", Text, nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)
