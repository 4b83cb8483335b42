"""Apply the Alembic migrations of the index (SQLite and PostgreSQL alike).

Alembic is imported only when there is something to migrate: it is about 8 MB of a serving
process's memory, and an index already at HEAD_REVISION (migrated by `vaultauth index
upgrade`, an init container, or the process that started first) needs none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from vaultauth.errors import IndexUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).with_name("migrations")
# The newest shipped revision, known without Alembic; tests hold it equal to Alembic's head.
HEAD_REVISION = "0005"
# Several replicas may start at once against one PostgreSQL: serialise their upgrades.
_PG_LOCK_KEY = 0x7661756C74  # "vault"


def head_revision() -> str:
    """The newest revision the shipped migrations lead to, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, to: str = "head") -> str | None:
    """Bring the index schema to revision `to` (the newest by default); return it."""
    try:
        with engine.begin() as connection:
            if to == "head" and _current_revision(connection) == HEAD_REVISION:
                return HEAD_REVISION
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            return _run_migrations(connection, to)
    except (sa_exc.OperationalError, sa_exc.InterfaceError):
        # Not chained: the driver's message (host, user, SQL) would follow it into tracebacks.
        raise IndexUnavailable("the metadata index is unavailable") from None


def _current_revision(connection: Connection) -> str | None:
    """The index's revision from Alembic's own table, read without Alembic (None: no table)."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _run_migrations(connection: Connection, to: str) -> str | None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, to)
    return MigrationContext.configure(connection).get_current_revision()


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config
