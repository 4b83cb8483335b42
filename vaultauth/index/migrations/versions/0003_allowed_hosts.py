"""allowedHosts: the hosts a record's credential may be sent to (NULL: any host).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch rebuild of the table on SQLite would drop the change-feed
    # triggers of migration 0002.
    op.add_column("auth_records", sa.Column("allowed_hosts", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("auth_records") as batch:
        batch.drop_column("allowed_hosts")
