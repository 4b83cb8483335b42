"""Initial schema: auth_records and api_keys.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from vaultauth.index.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_records",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("auth_id", sa.String(64), primary_key=True),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("api_key_name", sa.String(256)),
        sa.Column("api_key_position", sa.String(8)),
        sa.Column("kv_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index(
        "ix_auth_records_listing",
        "auth_records",
        ["tenant", "integration_id", "created_at", "auth_id"],
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("auth_records")
