"""OAuth 2.0 records: their configuration without secrets (tokenUrl, clientId, scopes,
audience, clientAuth); NULL for the other types.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch rebuild of the table on SQLite would drop the change-feed
    # triggers of migration 0002.
    op.add_column("auth_records", sa.Column("oauth2", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_records") as batch:
        batch.drop_column("oauth2")
