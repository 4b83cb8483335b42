"""Record lifecycle: label, expiresAt, rotateAfter (with the due date they give), a revision for
ETags, idempotency keys; authType wide enough for the OAuth 2.0 types.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from vaultauth.index.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        # SQLite does not enforce VARCHAR lengths, and altering a column would make Alembic
        # rebuild the table there, dropping the change-feed triggers of migration 0002.
        op.alter_column("auth_records", "auth_type", type_=sa.String(32), existing_nullable=False)
    # Plain ADD COLUMNs: on SQLite a batch operation could rebuild the table, and a rebuilt
    # table has lost the change-feed triggers of migration 0002.
    op.add_column("auth_records", sa.Column("label", sa.String(128), nullable=True))
    op.add_column("auth_records", sa.Column("expires_at", UtcDateTime, nullable=True))
    op.add_column("auth_records", sa.Column("rotate_after", UtcDateTime, nullable=True))
    # The earlier of the two: what `GET /v1/auth/due` orders by (kept by every write).
    op.add_column("auth_records", sa.Column("due_at", UtcDateTime, nullable=True))
    # Counts every change of the row: the ETag.
    op.add_column(
        "auth_records",
        sa.Column("revision", sa.Integer, nullable=False, server_default=sa.text("1")),
    )
    due = sa.text("due_at IS NOT NULL")
    op.create_index(
        "ix_auth_records_due",
        "auth_records",
        ["tenant", "due_at", "integration_id", "auth_id"],
        sqlite_where=due,
        postgresql_where=due,
    )
    for column in ("expires_at", "rotate_after"):
        present = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_auth_records_{column}",
            "auth_records",
            [column],
            sqlite_where=present,
            postgresql_where=present,
        )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("auth_id", sa.String(64), nullable=True),  # NULL while the create runs
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    for name in (
        "ix_auth_records_rotate_after",
        "ix_auth_records_expires_at",
        "ix_auth_records_due",
    ):
        op.drop_index(name, table_name="auth_records")
    with op.batch_alter_table("auth_records") as batch:
        for column in ("revision", "due_at", "rotate_after", "expires_at", "label"):
            batch.drop_column(column)
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("auth_records", "auth_type", type_=sa.String(16), existing_nullable=False)
