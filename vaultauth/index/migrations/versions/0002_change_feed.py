"""The change feed: the index announces every change of a record or an API key.

SQLite: triggers append the changed subject to `index_changes` (polled by every process).
Announced: a record's update or delete; an API key's insert, update or delete.
PostgreSQL: triggers `pg_notify('vaultauth_changes', subject)` (LISTENed to by every process).
Subjects: `record:<tenant>/<integrationId>/<authId>` and `key:<keyId>`. See index/feed.py.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_RECORD = "'record:' || {row}.tenant || '/' || {row}.integration_id || '/' || {row}.auth_id"
_KEY = "'key:' || {row}.key_id"
# (table, event, row alias, subject expression)
# A new record needs no announcement (no cache holds a record before it exists), and creates
# are hot; a new API key is announced (a cache may remember that its id was unknown).
_TRIGGERS = [
    ("auth_records", "UPDATE", "NEW", _RECORD),
    ("auth_records", "DELETE", "OLD", _RECORD),
    ("api_keys", "INSERT", "NEW", _KEY),
    ("api_keys", "UPDATE", "NEW", _KEY),
    ("api_keys", "DELETE", "OLD", _KEY),
]


def _name(table: str, event: str) -> str:
    return f"{table}_{event.lower()}_announced"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION vaultauth_announce_change() RETURNS trigger AS $$
            BEGIN
              IF TG_TABLE_NAME = 'auth_records' THEN
                IF TG_OP = 'DELETE' THEN
                  PERFORM pg_notify('vaultauth_changes',
                    'record:' || OLD.tenant || '/' || OLD.integration_id || '/' || OLD.auth_id);
                ELSE
                  PERFORM pg_notify('vaultauth_changes',
                    'record:' || NEW.tenant || '/' || NEW.integration_id || '/' || NEW.auth_id);
                END IF;
              ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('vaultauth_changes', 'key:' || OLD.key_id);
              ELSE
                PERFORM pg_notify('vaultauth_changes', 'key:' || NEW.key_id);
              END IF;
              RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table, events in (
            ("auth_records", "UPDATE OR DELETE"),
            ("api_keys", "INSERT OR UPDATE OR DELETE"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_announced AFTER {events} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vaultauth_announce_change()"
            )
        return
    op.execute(
        "CREATE TABLE index_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL)"
    )
    for table, event, row, subject in _TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
            f"BEGIN INSERT INTO index_changes (subject) VALUES ({subject.format(row=row)}); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("auth_records", "api_keys"):
            op.execute(f"DROP TRIGGER {table}_announced ON {table}")
        op.execute("DROP FUNCTION vaultauth_announce_change()")
        return
    for table, event, _row, _subject in _TRIGGERS:
        op.execute(f"DROP TRIGGER {_name(table, event)}")
    op.execute("DROP TABLE index_changes")
